#!/usr/bin/env bash
# Install ejabberd and Prosody from Debian's packages, with the SQLite
# drivers both need, and make sure neither runs as a system service: the
# benchmark starts each one itself, on loopback, with the configuration in
# this folder (see ejabberd.sh and prosody.sh).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (apt-get install)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! apt-cache policy ejabberd | grep -q 'Candidate: [0-9]'; then
    apt-get update
fi
apt-get install -y --no-install-recommends \
    ejabberd erlang-p1-sqlite3 \
    prosody lua-dbi-sqlite3 \
    sqlite3 procps

# Both servers run as their own users through su/runuser, whose PAM
# session would cap open files at 1024: too few for W0's connections.
nofile="$(ulimit -Hn)"
[ "$nofile" = unlimited ] && nofile=65536
cat > /etc/security/limits.d/oriole-bench-peers.conf <<LIMITS
ejabberd soft nofile $nofile
ejabberd hard nofile $nofile
prosody soft nofile $nofile
prosody hard nofile $nofile
LIMITS

# The packages start their services on install where an init system does;
# the benchmark wants neither running with the stock configuration.
for svc in ejabberd prosody; do
    service "$svc" stop >/dev/null 2>&1 || true
done
pkill_pidfile() { [ -f "$1" ] && kill "$(cat "$1")" 2>/dev/null || true; }
pkill_pidfile /run/prosody/prosody.pid
ejabberdctl stop >/dev/null 2>&1 || true

dpkg-query -W -f='${Package} ${Version}\n' ejabberd prosody erlang-p1-sqlite3 lua-dbi-sqlite3
