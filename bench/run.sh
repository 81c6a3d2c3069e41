#!/usr/bin/env bash
# bench/run.sh: the performance matrix, written to docs/performance.md.
#
# Builds `chat` in release, then for each server -- `chat server` on the smol
# and std runtimes (flood control off, room for 20 000 clients) and the seed's
# Python server (bench/seed_server.py) -- runs `chat bench` over the matrix:
#   fanout  C=10 M=1000, C=100 M=100, C=1000 M=10   (S=64, full speed)
#   rate    C=100 at 10 msgs/s each for 10 s         (latency)
#   idle    1 000 and 5 000 clients                  (join time, RSS per connection)
#   idle    15 000 clients, smol only
# Every measurement gets a fresh server (the seed's spins after any client
# leaves, and ours would still be sending the leave notices of the last run).
# Each figure is the median of 3 runs; a run that hit its timeout is not
# repeated. Then the core micro-benchmark (cargo bench -p chat-tests --bench core).
# Finally bench/render.py writes the tables, keeping every section of the
# existing file that it did not generate.
#
# Usage: bench/run.sh [--quick] [--out FILE]
#   --quick   one run per figure, a smaller matrix, core bench in criterion's
#             --quick mode; writes $TARGET/bench/performance-quick.md unless --out
#   --out     where to write (default docs/performance.md)
# Environment: CARGO_TARGET_DIR (default ./target); SERVER_ARGS, extra flags
# for `chat server` (e.g. SERVER_ARGS="--send-queue 16MiB").
# Takes about 7 minutes on the 2-core machine (--quick: about 4, most of it the core bench).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
QUICK=0
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --out) OUT=${2:?--out needs a file}; shift ;;
        --out=*) OUT=${1#--out=} ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
RESULTS_DIR=$TARGET/bench
mkdir -p "$RESULTS_DIR"
if [ -z "$OUT" ]; then
    if [ "$QUICK" = 1 ]; then OUT=$RESULTS_DIR/performance-quick.md; else OUT=$ROOT/docs/performance.md; fi
fi
RUNS=3
[ "$QUICK" = 1 ] && RUNS=1
RESULTS=$RESULTS_DIR/results.jsonl
: > "$RESULTS"
WORK=$(mktemp -d)

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

# Every server this script starts is killed on the way out.
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Thousands of sockets on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

log "building chat (release)"
cargo build --release -q -p chat-cli
CHAT=$TARGET/release/chat
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
T0=$SECONDS

# measure ROW KIND: up to $RUNS runs of case ROW (bench_flags) against a
# fresh KIND server each; appends one line per run to $RESULTS. A run that
# timed out (not everyone joined, or the drain hit --timeout) is not repeated.
measure() {
    local row=$1 kind=$2 run
    for run in $(seq "$RUNS"); do
        measure_once "$(printf '"row":"%s","server":"%s","run":%d' "$row" "$kind" "$run")" \
            "$kind" "$CHAT" "$row"
        log "$row $kind run $run: $(summary "$LINE")"
        if [ -z "$LINE" ] || timed_out "$LINE"; then
            [ "$run" -lt "$RUNS" ] && log "$row $kind: timed out or failed, not repeated"
            break
        fi
    done
}

SERVERS=(smol std seed)
if [ "$QUICK" = 1 ]; then
    RATE_SECONDS=3
    IDLE_SIZES=(1000)
    BIG_IDLE=()
else
    RATE_SECONDS=10
    IDLE_SIZES=(1000 5000)
    BIG_IDLE=(15000)
fi

for kind in "${SERVERS[@]}"; do
    for row in fanout-10x1000 fanout-100x100 fanout-1000x10 rate-100x10; do
        measure "$row" "$kind"
    done
    for n in "${IDLE_SIZES[@]}"; do
        measure "idle-$n" "$kind"
    done
done
for n in "${BIG_IDLE[@]}"; do
    measure "idle-$n" smol
done
LOAD_SECONDS=$((SECONDS - T0))

log "core micro-benchmark"
CORE_FLAGS=()
[ "$QUICK" = 1 ] && CORE_FLAGS=(-- --quick)
CORE_STATUS=ok
export CRITERION_HOME=$RESULTS_DIR/criterion
rm -rf "$CRITERION_HOME"
if ! cargo bench -q -p chat-tests --bench core "${CORE_FLAGS[@]}" > "$RESULTS_DIR/core.txt" 2>&1; then
    CORE_STATUS=failed
    log "core micro-benchmark failed; see $RESULTS_DIR/core.txt"
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

python3 "$ROOT/bench/render.py" \
    --results "$RESULTS" --criterion "$CRITERION_HOME" --core-status "$CORE_STATUS" \
    --out "$OUT" --runs "$RUNS" --quick "$QUICK" --started "$STARTED" \
    --load-start "$LOAD_START" --load-end "$LOAD_END" --load-seconds "$LOAD_SECONDS" \
    --server-args "${SERVER_ARGS:-}"
log "wrote $OUT (raw results: $RESULTS) in $((SECONDS - T0)) s"
