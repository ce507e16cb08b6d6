#!/usr/bin/env bash
# Two builds, alternated round by round, and the paired summary: the
# method behind docs/benchmarks.md's "alternated" tables. On a shared VM
# one build's CPU per message moves by 5 to 10% from minute to minute, so
# two builds are only compared within the same minutes, A then B, over
# many rounds.
#
#   bench/ab.sh step BIN_A BIN_B RATE [ROUNDS]     # W1 steps (bench/step.sh)
#   bench/ab.sh store BENCH_A BENCH_B [ROUNDS]     # oriole-bench store-append
#
# step: BIN_* are server binaries; each round runs one 12 s W1 step at RATE
# msg/s per build and reads the server's threads' CPU over its 6 s window.
# store: BENCH_* are oriole-bench binaries; each round runs `store-append
# --messages 200000` per build on core 0 (STORE_ARGS adds arguments).
#
# Per round and build: µs of CPU per message in all and on SQLite's
# thread (and, for steps, p99 and whether the step held). Then each
# build's mean, and how often B was below A.
set -euo pipefail

mode=${1:?step or store}
a=${2:?first build}
b=${3:?second build}
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

one() {
    local label=$1 bin=$2
    case $mode in
        step)
            OUT="$out/$label" bash "$here/bench/step.sh" "$bin" w1 "$rate" 12 >/dev/null 2>&1 || true
            awk -v r="$rate" -v l="$label" '
                { us = $3 * 10000 / (r * 6); total += us; if ($1 ~ /^sqlx-sqlite/) commit += us }
                END { printf "%s %.2f %.2f", l, total, commit }' "$out/$label/threads.txt"
            grep -hoE "p99 [0-9.]+ ms.*-> (held|failed)" "$out/$label/bench.log" | tail -1 |
                awk '{ printf " %s %s\n", $2, $NF }'
            ;;
        store)
            # shellcheck disable=SC2086
            taskset -c 0 "$bin" store-append --messages 200000 ${STORE_ARGS:-} |
                python3 -c '
import json, sys
d = json.load(sys.stdin)
commit = sum(us for name, us in d["threads"] if name.startswith("sqlx-sqlite"))
print("%s %.2f %.2f - -" % (sys.argv[1], d["cpu_us_per_message"], commit))' "$label"
            ;;
        *) echo "unknown mode $mode" >&2; exit 2 ;;
    esac
}

case $mode in
    step) rate=${4:?offered rate}; rounds=${5:-6} ;;
    store) rounds=${4:-20} ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
esac

echo "round build us_per_message commit_thread p99_ms held"
for i in $(seq "$rounds"); do
    echo "$i $(one A "$a")"
    echo "$i $(one B "$b")"
done | tee "$out/rounds.txt"
awk '
    { total[$2] += $3; commit[$2] += $4; n[$2]++; if ($2 == "A") last = $3; else if ($3 < last) lower++ }
    END {
        printf "A: mean %.2f us per message (commit thread %.2f) over %d rounds\n", total["A"] / n["A"], commit["A"] / n["A"], n["A"]
        printf "B: mean %.2f us per message (commit thread %.2f) over %d rounds\n", total["B"] / n["B"], commit["B"] / n["B"], n["B"]
        printf "B below A in %d of %d rounds\n", lower, n["B"]
    }' "$out/rounds.txt"
