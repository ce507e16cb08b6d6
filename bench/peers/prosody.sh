#!/usr/bin/env bash
# Prosody for the benchmark: `prosody.sh start` writes a configuration of
# its own under $BENCH_PEERS_DIR (default /tmp/oriole-bench-peers), starts
# Prosody on 127.0.0.1 only (WebSocket at ws://127.0.0.1:15281/xmpp-websocket),
# waits until it listens, and prints key=value lines for oriole-bench:
# url, pid, domain, muc, and one `setting=` line per recorded setting.
# `prosody.sh stop` stops it. Installed by install.sh (Debian's prosody).
#
# Storage: SQLite for everything (accounts, offline messages, archive,
# rooms), in WAL mode with `synchronous` at SQLite's default (FULL), as
# Oriole runs; offline storage and the message archive (MAM, on for
# everyone, also in rooms) on; in-band registration open to loopback
# without throttling; mod_limits not loaded (no rate limits). Prosody is
# single-threaded; pinned to core $BENCH_CORE when set.
set -euo pipefail

ROOT="${BENCH_PEERS_DIR:-/tmp/oriole-bench-peers}/prosody"
PORT=15281

start() {
    stop >/dev/null 2>&1 || true
    rm -rf "$ROOT"
    mkdir -p "$ROOT/data" "$ROOT/certs"
    # WAL is stored in the file; Prosody creates its tables in it.
    sqlite3 "$ROOT/data/prosody.sqlite" 'PRAGMA journal_mode=WAL;' >/dev/null
    cat > "$ROOT/prosody.cfg.lua" <<LUA
pidfile = "$ROOT/prosody.pid"
data_path = "$ROOT/data"
log = { warn = "$ROOT/prosody.log" }
interfaces = { "127.0.0.1" }
c2s_ports = { 15222 }
s2s_ports = { }
http_ports = { $PORT }
http_interfaces = { "127.0.0.1" }
https_ports = { }
https_interfaces = { }
-- WebSocket on loopback without TLS: let SASL PLAIN through.
consider_websocket_secure = true
c2s_require_encryption = false
allow_unencrypted_plain_auth = true

authentication = "internal_plain"
storage = "sql"
sql = { driver = "SQLite3", database = "prosody.sqlite" }

allow_registration = true
registration_whitelist = { "127.0.0.1", "::1" }
min_seconds_between_registrations = 0

archive_expires_after = "never"
default_archive_policy = true
max_archive_query_results = 50

modules_enabled = {
    "roster"; "saslauth"; "disco"; "ping"; "register";
    "mam"; "websocket";
}
modules_disabled = { "s2s"; "tls"; "limits"; }

VirtualHost "localhost"

Component "conference.localhost" "muc"
    modules_enabled = { "muc_mam" }
    muc_log_by_default = true
    muc_room_locking = false
    restrict_room_creation = false
    max_history_messages = 0
LUA
    chown -R prosody:prosody "$ROOT"
    local pin=()
    [ -n "${BENCH_CORE:-}" ] && pin=(taskset -c "$BENCH_CORE")
    # -F: stay in the foreground (of this background job), as user prosody.
    setsid runuser -u prosody -- "${pin[@]}" prosody --config "$ROOT/prosody.cfg.lua" -F \
        >"$ROOT/stdout.log" 2>&1 < /dev/null &
    for _ in $(seq 1 80); do
        if [ -s "$ROOT/prosody.pid" ] && (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then
            break
        fi
        sleep 0.25
    done
    if ! [ -s "$ROOT/prosody.pid" ]; then
        echo "prosody did not start; see $ROOT/stdout.log and $ROOT/prosody.log" >&2
        cat "$ROOT/stdout.log" >&2 || true
        exit 1
    fi
    echo "url=ws://127.0.0.1:$PORT/xmpp-websocket"
    echo "pid=$(cat "$ROOT/prosody.pid")"
    echo "domain=localhost"
    echo "muc=conference.localhost"
    echo "setting=prosody $(dpkg-query -W -f='${Version}' prosody) (single-threaded Lua 5.4)"
    echo "setting=SQLite $ROOT/data/prosody.sqlite, journal_mode=wal, synchronous left at SQLite's default (FULL)"
    echo "setting=offline storage, MAM default always (also rooms), internal_plain auth, mod_limits off"
}

stop() {
    if [ -s "$ROOT/prosody.pid" ]; then
        local pid
        pid="$(cat "$ROOT/prosody.pid")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
