#!/usr/bin/env bash
# One load step against one Oriole build, with the server's per-thread CPU
# and context switches, and optionally a perf profile: the tool behind the
# "Hot paths" and "Store" passes in docs/benchmarks.md.
#
#   bench/step.sh BIN w1 RATE [SECONDS]        # RATE: messages/s
#   bench/step.sh BIN w3 RATE [SECONDS]        # RATE: deliveries/s, groups of 100
#   PERF=1 bench/step.sh BIN w1 8000           # also perf record the server
#
# The server runs pinned to core 0 with one tokio worker, the generator on
# core 1, with a fresh data dir and synchronous = FULL, as `oriole-bench`
# does. Password hashing is cheapened: logins are not what a step measures.
# Output goes to $OUT (default target/step/<workload>-<rate>).
set -euo pipefail

bin=${1:?server binary}
workload=${2:?w1 or w3}
rate=${3:?offered rate}
secs=${4:-12}
here=$(cd "$(dirname "$0")/.." && pwd)
bench=${BENCH:-$here/target/release/oriole-bench}
out=${OUT:-$here/target/step/$workload-$rate}
rm -rf "$out" && mkdir -p "$out"
data=$(mktemp -d)
port=$((20000 + RANDOM % 20000))

ORIOLE_PASSWORD_MEMORY_KIB=1024 ORIOLE_PASSWORD_ITERATIONS=1 \
    ORIOLE_SQLITE__SYNCHRONOUS=full TOKIO_WORKER_THREADS=1 RUST_LOG=warn \
    taskset -c 0 "$bin" serve --listen "127.0.0.1:$port" --data "$data" \
    >"$out/server.log" 2>&1 &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/v1/health" >/dev/null 2>&1 && break
    sleep 0.1
done

# Per thread: name, user+system ticks, voluntary and involuntary switches.
# A thread may exit between the glob and the reads (the blocking pool's
# threads come and go): skip it. Under `set -e` a failed read here would
# end the script, and its clean-up would stop the server mid-step.
threads() {
    for t in /proc/"$pid"/task/*; do
        local name stat vol inv
        name=$(cat "$t/comm" 2>/dev/null) || continue
        stat=$(sed 's/^.*) //' "$t/stat" 2>/dev/null) || continue
        vol=$(awk '/^voluntary_ctxt_switches/ {print $2}' "$t/status" 2>/dev/null) || continue
        inv=$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$t/status" 2>/dev/null) || continue
        echo "$(basename "$t") $name $(echo "$stat" | awk '{print $12 + $13}') $vol $inv"
    done
}

case $workload in
    w1) load=(--workloads w1 --w1-start-rate "$rate" --w1-max-steps 1 --w1-step-secs "$secs") ;;
    w3) load=(--workloads w3 --w3-sizes 100 --w3-start-deliveries "$rate" --w3-max-steps 1 --w3-step-secs "$secs") ;;
    *) echo "unknown workload $workload" >&2; exit 2 ;;
esac

# The warm-up and set-up run first; sample the threads once the step runs.
taskset -c 1 "$bench" run --no-pin --url "http://127.0.0.1:$port" --pid "$pid" \
    "${load[@]}" --out "$out" >"$out/bench.log" 2>&1 &
load_pid=$!
sleep "${SETTLE:-6}"
threads >"$out/threads.before"
if [[ ${PERF:-0} == 1 ]]; then
    perf record -F ${PERF_FREQ:-1999} ${PERF_CALLGRAPH:--g} -p "$pid" -o "$out/perf.data" -- sleep "$((secs / 2))" \
        >/dev/null 2>&1 || true
fi
sleep "$((secs / 2))"
threads >"$out/threads.after"
wait "$load_pid" || true

join <(sort "$out/threads.before") <(sort "$out/threads.after") |
    awk '{printf "%-18s ticks %5d  vol %8d  invol %7d\n", $2, $7 - $3, $8 - $4, $9 - $5}' |
    sort -k3 -nr | awk '$3 > 0 || $5 > 0 || $7 > 0' | tee "$out/threads.txt"
grep -E "rate|p99|lost|held" "$out/bench.log" | tail -5 || true
echo "results in $out"
