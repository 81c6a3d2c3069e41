# bench/lib.sh: what bench/run.sh and bench/compare.sh share, sourced by both.
#
# Starting and stopping one server per measurement, the log, and the digest
# of one `chat bench --json` line. The sourcing script sets:
#   ROOT  the repository (for bench/digest.py and bench/seed_server.py)
#   WORK  a scratch directory, removed by the script on exit
#   CHAT  the `chat` binary start_server runs unless given another
# and may set SERVER_ARGS, extra flags for `chat server`.
# start_server sets SERVER_PID; the sourcing script's exit trap kills it.

SERVER_PID=""
SERVER_PORT=""

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# start_server KIND [BINARY]: starts a fresh server (smol, std or seed) on a
# free port, `chat server` from BINARY (default $CHAT) with flood control off
# and room for 20 000 clients; sets SERVER_PID and SERVER_PORT once it prints
# `listening on`. Gives up (exit 1) after 10 s.
start_server() {
    local kind=$1 binary=${2:-$CHAT} out=$WORK/server.out
    : > "$out"
    if [ "$kind" = seed ]; then
        python3 "$ROOT/bench/seed_server.py" 0 > "$out" 2> "$WORK/server.err" &
    else
        # shellcheck disable=SC2086 # SERVER_ARGS is a list of flags
        "$binary" server --port 0 --runtime "$kind" --flood-rate 0 --max-clients 20000 \
            ${SERVER_ARGS:-} > "$out" 2> "$WORK/server.err" &
    fi
    SERVER_PID=$!
    SERVER_PORT=""
    for _ in $(seq 200); do
        SERVER_PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out" | head -n1)
        [ -n "$SERVER_PORT" ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "error: the $kind server did not start:" >&2
    cat "$WORK/server.err" >&2
    exit 1
}

# stop_server: SIGTERM, then SIGKILL after 2 s (the seed ignores neither).
stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 40); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

# server_cpu_seconds: the CPU time (user + system) the running server has
# used since it started, from /proc/PID/stat; empty when it is gone.
server_cpu_seconds() {
    local stat rest
    stat=$(cat "/proc/$SERVER_PID/stat" 2>/dev/null) || return 0
    # Fields after the command name (which may hold spaces): utime and stime
    # are the 12th and 13th after the closing parenthesis.
    rest=${stat##*) }
    # shellcheck disable=SC2086 # split into fields on purpose
    set -- $rest
    awk -v u="${12}" -v s="${13}" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", (u + s) / hz }'
}

# bench_flags CASE: the `chat bench` flags of one named case of the matrix,
# S = 64 B and a 60 s bound on each phase throughout:
#   fanout-CxM  C clients each send M messages at full speed (10x1000,
#               100x100, 1000x10)
#   rate-100x10 100 clients at 10 messages/s each for RATE_SECONDS (default 10)
#   idle-N      N clients join and stay (join time, memory per connection)
bench_flags() {
    local name=$1
    case "$name" in
        fanout-10x1000|fanout-100x100|fanout-1000x10)
            local cm=${name#fanout-}
            echo "--clients ${cm%x*} --messages ${cm#*x} --size 64 --timeout 60s" ;;
        rate-100x10)
            echo "--clients 100 --messages $((${RATE_SECONDS:-10} * 10)) --rate 10 --size 64 --timeout 60s" ;;
        idle-[1-9]*)
            echo "--scenario idle --clients ${name#idle-} --timeout 60s" ;;
        *) return 1 ;;
    esac
}

# measure_once LABEL KIND BINARY CASE: one run of case CASE by `$CHAT bench`
# against a fresh KIND server started from BINARY. Appends one JSON line to
# $RESULTS: LABEL (the object's first members, e.g. `"row":"x","run":1`),
# the server's CPU seconds at the end of the run, and the bench's result, or
# the bench's error. Sets LINE to the result (empty when the bench failed).
measure_once() {
    local label=$1 kind=$2 binary=$3 name=$4 dialect=framed cpu flags
    [ "$kind" = seed ] && dialect=seed
    flags=$(bench_flags "$name") || { echo "error: no case named $name" >&2; exit 2; }
    start_server "$kind" "$binary"
    # shellcheck disable=SC2086 # flags is a list of flags
    if LINE=$("$CHAT" bench --json --port "$SERVER_PORT" --server-pid "$SERVER_PID" \
            --dialect "$dialect" --stall 3s $flags 2> "$WORK/bench.err"); then
        cpu=$(server_cpu_seconds)
        printf '{%s,"server_cpu_seconds":%s,"result":%s}\n' "$label" "${cpu:-null}" "$LINE" >> "$RESULTS"
    else
        LINE=""
        printf '{%s,"error":%s}\n' "$label" \
            "$(python3 -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))' < "$WORK/bench.err")" >> "$RESULTS"
    fi
    stop_server
}

# summary JSON: a one-line digest of a `chat bench --json` line for the log
# (the head of $WORK/bench.err when JSON is empty: the run failed).
summary() {
    [ -n "$1" ] || { echo "failed: $(head -c 300 "$WORK/bench.err")"; return 0; }
    python3 "$ROOT/bench/digest.py" summary "$1"
}

# timed_out JSON: true when the run hit a timeout.
timed_out() {
    python3 "$ROOT/bench/digest.py" timed-out "$1"
}
