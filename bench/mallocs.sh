#!/usr/bin/env bash
# Heap allocations per W1 message, by server thread: glibc's `malloc`
# counted with a uprobe over 4 s of one load step (bench/step.sh). Counts
# do not depend on the machine's speed or load, so one step tells a change
# of one allocation per message apart, where CPU time needs many rounds.
#
#   bench/mallocs.sh BIN [RATE]        # default RATE: 10000 msg/s
#
# Needs root (perf probe). The probe is added if missing and left in
# place; `perf probe -d probe_libc:malloc` removes it.
set -euo pipefail

bin=${1:?server binary}
rate=${2:-10000}
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

libc=$(ldd "$bin" | awk '/libc\.so/ { print $3 }')
perf probe -l 2>/dev/null | grep -q 'probe_libc:malloc' ||
    perf probe -x "$libc" -a malloc >/dev/null 2>&1

OUT="$out/step" bash "$here/bench/step.sh" "$bin" w1 "$rate" 12 >"$out/step.log" 2>&1 &
step=$!
# bench/step.sh lets the step settle for 6 s; count from 8 s to 12 s.
sleep 8
pid=$(pgrep -f "$bin serve" | head -1)
perf stat -e probe_libc:malloc --per-thread -p "$pid" -x, -o "$out/stat.txt" -- sleep 4 \
    >/dev/null 2>&1
wait "$step" || true
awk -F, -v r="$rate" '$2 ~ /^[0-9]+$/ && $2 + 0 >= r * 0.04 { printf "%-28s %8.2f allocations per message\n", $1, $2 / (r * 4) }' \
    "$out/stat.txt" | sort -k2 -nr
grep -hE -- "-> (held|failed)" "$out/step/bench.log" | tail -1
