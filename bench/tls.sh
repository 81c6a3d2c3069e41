#!/usr/bin/env bash
# bench/tls.sh: what TLS costs, plain against TLS in the same run.
#
# Builds `chat` in release and makes a throwaway CA and server certificate
# (openssl, in a temporary directory). Then for each runtime (smol, std),
# RUNS times, against a fresh server with a plain and a TLS port each time,
# it runs `chat bench` plain then over TLS (`--tls --ca`), alternating:
#   fanout     C=100 M=1000 S=64, full speed
#   rate       C=100 at 10 msgs/s each for 5 s (latency)
#   handshake  2 000 connections up to the `alias?` prompt (connections/s;
#              over TLS, handshakes/s)
# and prints one markdown table of medians, with TLS ÷ plain ratios. The
# servers run with a 16 MiB send queue, so that a load generator that falls
# behind on this shared machine is not dropped as too slow (a lost client
# changes the work done and so the rate).
#
# Usage: bench/tls.sh [RUNS]    (default 3; about 2 minutes on 2 cores)
# Environment: CARGO_TARGET_DIR (default ./target).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUNS=${1:-3}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

log "building chat (release)"
cargo build --release -q -p chat-cli
CHAT=$TARGET/release/chat

# A CA, and a certificate for 127.0.0.1 it signed (a self-signed leaf is
# refused by webpki as a CA used as an end entity).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=bench CA" -keyout "$WORK/ca-key.pem" -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout "$WORK/key.pem" -out "$WORK/req.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > "$WORK/ext.cnf"
openssl x509 -req -in "$WORK/req.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca-key.pem" \
    -CAcreateserial -days 2 -extfile "$WORK/ext.cnf" -out "$WORK/cert.pem" 2>/dev/null

# start_server RUNTIME: sets SERVER_PID, PLAIN_PORT and TLS_PORT.
start_server() {
    local out=$WORK/server.out
    : > "$out"
    "$CHAT" server --port 0 --tls-port 0 --runtime "$1" --flood-rate 0 --max-clients 20000 --send-queue 16MiB \
        --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" > "$out" 2> "$WORK/server.err" &
    SERVER_PID=$!
    for _ in $(seq 200); do
        PLAIN_PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\) (runtime [a-z]*)$/\1/p' "$out")
        TLS_PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\) (runtime [a-z]*, TLS)$/\1/p' "$out")
        [ -n "$PLAIN_PORT" ] && [ -n "$TLS_PORT" ] && return 0
        sleep 0.05
    done
    echo "error: the $1 server did not start:" >&2
    cat "$WORK/server.err" >&2
    exit 1
}

stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 40); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

RESULTS=$WORK/results.jsonl
: > "$RESULTS"
# one ROW RUNTIME RUN FLAGS...: plain then TLS, each against a fresh server.
one() {
    local row=$1 runtime=$2 run=$3 mode line
    shift 3
    for mode in plain tls; do
        start_server "$runtime"
        if [ "$mode" = plain ]; then
            line=$("$CHAT" bench --json --stall 3s --timeout 60s --port "$PLAIN_PORT" "$@")
        else
            line=$("$CHAT" bench --json --stall 3s --timeout 60s --port "$TLS_PORT" \
                --tls --ca "$WORK/ca.pem" "$@")
        fi
        stop_server
        printf '{"row":"%s","runtime":"%s","mode":"%s","run":%d,"result":%s}\n' \
            "$row" "$runtime" "$mode" "$run" "$line" >> "$RESULTS"
        log "$row $runtime $mode run $run done"
    done
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for run in $(seq "$RUNS"); do
    for runtime in smol std; do
        one fanout "$runtime" "$run" --clients 100 --messages 1000 --size 64
        one rate "$runtime" "$run" --clients 100 --messages 50 --rate 10 --size 64
        one handshake "$runtime" "$run" --scenario handshake --clients 2000
    done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$RESULTS" "$RUNS" "$LOAD_START" "$LOAD_END" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(row, runtime, mode, get):
    vals = [get(r["result"]) for r in rows
            if r["row"] == row and r["runtime"] == runtime and r["mode"] == mode]
    return statistics.median(vals), vals
def fmt_rate(v):
    return f"{v/1e6:.2f} M/s" if v >= 1e6 else f"{v:,.0f}/s"
def fmt_us(v):
    return f"{v/1000:.1f} ms" if v >= 10000 else f"{v:.0f} µs"
print(f"Medians of {sys.argv[2]} runs each; load average {sys.argv[3]} at the start, {sys.argv[4]} at the end.\n")
print("| runtime | measure | plain | TLS | TLS ÷ plain | runs (plain; TLS) |")
print("| --- | --- | --- | --- | --- | --- |")
measures = [
    ("fanout", "deliveries/s, C=100 × 1000 × 64 B", lambda r: r["deliveries_per_second"], fmt_rate),
    ("fanout", "lost", lambda r: r["lost"], str),
    ("rate", "p50, C=100 × 10 msg/s", lambda r: r["latency_us"]["p50"], fmt_us),
    ("rate", "p99, C=100 × 10 msg/s", lambda r: r["latency_us"]["p99"], fmt_us),
    ("handshake", "connections to the prompt/s (TLS: handshakes/s), 2 000", lambda r: r["joins_per_second"], fmt_rate),
    ("handshake", "connect to prompt p50", lambda r: r["latency_us"]["p50"], fmt_us),
]
for runtime in ("smol", "std"):
    for row, name, get, fmt in measures:
        p, pv = med(row, runtime, "plain", get)
        t, tv = med(row, runtime, "tls", get)
        ratio = f"{t/p:.2f}×" if p else "—"
        runs = ", ".join(fmt(v) for v in pv) + "; " + ", ".join(fmt(v) for v in tv)
        print(f"| {runtime} | {name} | {fmt(p)} | {fmt(t)} | {ratio} | {runs} |")
PY
