#!/usr/bin/env bash
# bench/holes.sh: the stalled-reader and join reproductions, 3 runs each.
#
# Runs bench/stall.py (one stalled reader of 7-byte lines: the server's RSS
# growth against --send-queue 64KiB and the default 256KiB, 90 s bound) and
# bench/joins.py (std and smol: users joining one after another from 3 000 to
# 5 000 while 4 users chat at 2 lines/s each; a 4 000-user join storm, 64 at a
# time; 10 000 idle users joining 64 at a time) on both runtimes, and
# appends one JSON line per run, each preceded by `# CASE uptime`, to OUT.
# Loopback only; each run is bounded by the scripts' --seconds.
#
# Usage: bench/holes.sh [OUT] (default holes-results.txt); CHAT=path/to/chat
#        (default target/release/chat); ONLY=stall|seq|storm|idle runs one part.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHAT=${CHAT:-$ROOT/target/release/chat}
OUT=${1:-holes-results.txt}
RUNS=${RUNS:-3}
want() { [ -z "${ONLY:-}" ] || [ "$ONLY" = "$1" ]; }
note() { echo "# $* | $(uptime)" >> "$OUT"; }
for rt in smol std; do
    if want stall; then
        for q in 64KiB 256KiB; do
            note "stall $rt $q"
            python3 "$ROOT/bench/stall.py" --chat "$CHAT" --runtime "$rt" --send-queue "$q" \
                --seconds 90 --runs "$RUNS" --json >> "$OUT"
        done
    fi
done
for case in seq storm idle; do
    want "$case" || continue
    for rt in std smol; do
        for i in $(seq "$RUNS"); do
            note "$case $rt run $i"
            python3 "$ROOT/bench/joins.py" --chat "$CHAT" --runtime "$rt" --rate 2 --seconds 300 "$case" >> "$OUT"
        done
    done
done
