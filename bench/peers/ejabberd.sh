#!/usr/bin/env bash
# ejabberd for the benchmark: `ejabberd.sh start` writes a configuration of
# its own under $BENCH_PEERS_DIR (default /tmp/oriole-bench-peers), starts
# ejabberd on 127.0.0.1 only (WebSocket at ws://127.0.0.1:15280/xmpp-websocket),
# waits until it answers, and prints key=value lines for oriole-bench:
# url, pid, domain, muc, and one `setting=` line per recorded setting.
# `ejabberd.sh stop` stops it. Installed by install.sh (Debian's ejabberd).
#
# Storage: SQLite for everything (accounts, offline messages, archive,
# rooms); offline storage and the message archive (MAM, always) on;
# in-band registration open to loopback without the per-IP timeout; no
# shapers or traffic limits. One Erlang scheduler (+S 1:1), pinned to
# core $BENCH_CORE when set.
set -euo pipefail

ROOT="${BENCH_PEERS_DIR:-/tmp/oriole-bench-peers}/ejabberd"
PORT=15280
NODE=benchejabberd@localhost
CTL=(ejabberdctl --config-dir "$ROOT/etc" --spool "$ROOT/spool" --logs "$ROOT/log" --node "$NODE")

start() {
    stop >/dev/null 2>&1 || true
    rm -rf "$ROOT"
    mkdir -p "$ROOT/etc" "$ROOT/spool" "$ROOT/log"
    cp /etc/ejabberd/inetrc "$ROOT/etc/inetrc"
    # Debian's /etc/ejabberd/ejabberdctl.cfg sets EJABBERD_CONFIG_PATH,
    # which would override --config: this folder has its own ctl config.
    cat > "$ROOT/etc/ejabberdctl.cfg" <<CFG
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0 +S 1:1 +SDcpu 1:1 +A 1"
EJABBERD_PID_PATH=$ROOT/spool/ejabberd.pid
INET_DIST_INTERFACE=127.0.0.1
CFG
    # ejabberd 23.01 does not create its SQLite schema itself. WAL, as
    # Oriole uses (the mode is stored in the file); ejabberd leaves
    # `synchronous` at SQLite's default, FULL, as Oriole is configured.
    sqlite3 "$ROOT/spool/ejabberd.db" < /usr/share/ejabberd/sql/lite.new.sql
    sqlite3 "$ROOT/spool/ejabberd.db" 'PRAGMA journal_mode=WAL;' >/dev/null
    cat > "$ROOT/etc/ejabberd.yml" <<YML
hosts:
  - localhost
loglevel: warning
listen:
  -
    port: $PORT
    ip: "127.0.0.1"
    module: ejabberd_http
    request_handlers:
      /xmpp-websocket: ejabberd_http_ws
default_db: sql
sql_type: sqlite
sql_database: "$ROOT/spool/ejabberd.db"
new_sql_schema: true
auth_method: sql
auth_password_format: plain
registration_timeout: infinity
acl:
  loopback:
    ip:
      - 127.0.0.0/8
      - ::1/128
access_rules:
  local:
    allow: all
  register:
    allow: all
  muc_create:
    allow: all
shaper_rules:
  max_user_sessions: 1000
  max_user_offline_messages: 1000000
modules:
  mod_disco: {}
  mod_ping: {}
  mod_roster:
    db_type: sql
  mod_register:
    access: register
    ip_access: all
    password_strength: 0
  mod_offline:
    db_type: sql
    access_max_user_messages: max_user_offline_messages
  mod_mam:
    db_type: sql
    default: always
  mod_muc:
    db_type: sql
    access_create: muc_create
    max_users: 1000
    max_users_admin_threshold: 1000
    history_size: 0
    default_room_options:
      mam: true
      persistent: false
      max_users: 1000
YML
    chown -R ejabberd:ejabberd "$ROOT"
    local pin=()
    [ -n "${BENCH_CORE:-}" ] && pin=(taskset -c "$BENCH_CORE")
    "${pin[@]}" "${CTL[@]}" start
    for _ in $(seq 1 120); do
        if "${CTL[@]}" status >/dev/null 2>&1 && [ -s "$ROOT/spool/ejabberd.pid" ]; then
            break
        fi
        sleep 0.5
    done
    "${CTL[@]}" status >/dev/null 2>&1 || { echo "ejabberd did not start; see $ROOT/log" >&2; exit 1; }
    # The WebSocket listener may come up just after the node.
    for _ in $(seq 1 40); do
        (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
        sleep 0.25
    done
    echo "url=ws://127.0.0.1:$PORT/xmpp-websocket"
    echo "pid=$(cat "$ROOT/spool/ejabberd.pid")"
    echo "domain=localhost"
    echo "muc=conference.localhost"
    echo "setting=ejabberd $(dpkg-query -W -f='${Version}' ejabberd), Erlang +S 1:1 (one scheduler)"
    echo "setting=SQLite $ROOT/spool/ejabberd.db, journal_mode=$(sqlite3 "$ROOT/spool/ejabberd.db" 'PRAGMA journal_mode'), synchronous left at SQLite's default (FULL)"
    echo "setting=offline storage (sql), MAM default always (sql), MUC rooms with mam, no shapers, plain password storage"
}

stop() {
    "${CTL[@]}" stop >/dev/null 2>&1 || true
    "${CTL[@]}" stopped >/dev/null 2>&1 || true
    if [ -s "$ROOT/spool/ejabberd.pid" ]; then
        kill "$(cat "$ROOT/spool/ejabberd.pid")" 2>/dev/null || true
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
