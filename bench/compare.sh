#!/usr/bin/env bash
# bench/compare.sh: the same `chat bench` cases against an older build and this one.
#
# Builds REV in a git worktree of its own ($TARGET/compare/old, target dir
# $TARGET/compare/old-target; both are kept, so the next comparison rebuilds
# only what changed) and the working tree as it is, uncommitted changes
# included. Both builds get the working tree's [profile.*] settings (REV's
# Cargo.toml has its own replaced in the worktree), so they differ only in
# their source. Then, for each runtime and case, N measurements per build,
# alternating old, new, old, new..., each against a fresh server (bench/lib.sh,
# as bench/run.sh: --flood-rate 0 --max-clients 20000). The load generator is
# the working tree's `chat bench` for both servers: one client, two servers.
# Prints per case and figure: each build's median and spread (min-max over
# its runs), the ratio of medians new/old, and whether the spreads overlap
# ("within spread") or not; then every run that failed or timed out.
#
# Usage: bench/compare.sh [options] REV [NEW_REV]
#   REV            the older build: a commit, branch or tag (main~3, bc4897f)
#   NEW_REV        compare with this commit (its own worktree,
#                  $TARGET/compare/new) instead of the working tree
#   --runtime R    smol, std or both (default smol)
#   --case NAME    a case of bench/lib.sh's bench_flags, repeated or
#                  comma-separated: fanout-10x1000, fanout-100x100,
#                  fanout-1000x10, rate-100x10, idle-N (N clients); short
#                  names fanout10, fanout100, fanout1000, rate100, idle5000
#                  (default fanout-100x100,fanout-1000x10,rate-100x10)
#   --runs N       measurements per build, case and runtime (default 3)
#   --profile P    cargo profile of both builds (default release; profiling
#                  keeps symbols, for callgrind or perf)
#   --build-only   build both and print the two `chat` binaries, old then new
# Environment: CARGO_TARGET_DIR (default ./target); SERVER_ARGS, extra flags
# for both servers; RATE_SECONDS, length of the rate case (default 10).
# Takes about 1 minute per case, runtime and 3 runs, plus the builds.
# Loopback only; every run is bounded by the bench's --timeout 60s.
#
# Example: bench/compare.sh --runtime both main
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
RUNTIMES=(smol)
CASES=()
RUNS=3
PROFILE=release
BUILD_ONLY=0
REVS=()
usage() { sed -n '2,36p' "$0"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --runtime) RUNTIME_ARG=${2:?--runtime needs smol, std or both}; shift ;;
        --runtime=*) RUNTIME_ARG=${1#--runtime=} ;;
        --case) IFS=, read -ra more <<< "${2:?--case needs a name}"; CASES+=("${more[@]}"); shift ;;
        --case=*) IFS=, read -ra more <<< "${1#--case=}"; CASES+=("${more[@]}") ;;
        --runs) RUNS=${2:?--runs needs a number}; shift ;;
        --runs=*) RUNS=${1#--runs=} ;;
        --profile) PROFILE=${2:?--profile needs a name}; shift ;;
        --profile=*) PROFILE=${1#--profile=} ;;
        --build-only) BUILD_ONLY=1 ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "error: unknown option $1 (try --help)" >&2; exit 2 ;;
        *) REVS+=("$1") ;;
    esac
    shift
done
case "${RUNTIME_ARG:-smol}" in
    smol|std) RUNTIMES=("${RUNTIME_ARG:-smol}") ;;
    both) RUNTIMES=(smol std) ;;
    *) echo "error: --runtime is smol, std or both" >&2; exit 2 ;;
esac
[[ "$RUNS" =~ ^[1-9][0-9]?$ ]] || { echo "error: --runs is 1 to 99" >&2; exit 2; }
[ "${#REVS[@]}" -ge 1 ] && [ "${#REVS[@]}" -le 2 ] || { usage >&2; exit 2; }
[ "${#CASES[@]}" -gt 0 ] || CASES=(fanout-100x100 fanout-1000x10 rate-100x10)

WORK=$(mktemp -d)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The short names, and every case checked before anything is built.
for i in "${!CASES[@]}"; do
    case "${CASES[$i]}" in
        fanout10) CASES[i]=fanout-10x1000 ;;
        fanout100) CASES[i]=fanout-100x100 ;;
        fanout1000) CASES[i]=fanout-1000x10 ;;
        rate100) CASES[i]=rate-100x10 ;;
        idle[1-9]*) CASES[i]=idle-${CASES[$i]#idle} ;;
    esac
    bench_flags "${CASES[$i]}" > /dev/null || { echo "error: no case named ${CASES[$i]} (try --help)" >&2; exit 2; }
done

# Where cargo puts a profile's binaries.
profile_dir() { if [ "$PROFILE" = dev ]; then echo debug; else echo "$PROFILE"; fi; }

# build_rev SLOT COMMIT: checks COMMIT out in the worktree $TARGET/compare/SLOT
# (made on first use), gives it the working tree's [profile.*] sections,
# builds `chat` into $TARGET/compare/SLOT-target and prints its path.
build_rev() {
    local slot=$1 commit=$2 tree=$TARGET/compare/$1
    if [ ! -e "$tree/.git" ]; then
        mkdir -p "$TARGET/compare"
        git worktree prune
        git worktree add --quiet --detach "$tree" "$commit" >&2
    fi
    git -C "$tree" checkout --quiet --force --detach "$commit"
    python3 - "$ROOT/Cargo.toml" "$tree/Cargo.toml" <<'EOF'
import re, sys
def split(text):
    """The manifest without its [profile...] tables, and those tables."""
    keep, profiles, in_profile = [], [], False
    for line in text.splitlines(keepends=True):
        if re.match(r"\s*\[", line):
            in_profile = re.match(r"\s*\[profile[.\]]", line) is not None
        (profiles if in_profile else keep).append(line)
    return "".join(keep), "".join(profiles)
ours = open(sys.argv[1]).read()
theirs = open(sys.argv[2]).read()
rest, _ = split(theirs)
_, profiles = split(ours)
open(sys.argv[2], "w").write(rest.rstrip("\n") + "\n\n" + profiles)
EOF
    log "building $(git -C "$tree" log -1 --format='%h %cs') ($PROFILE) in $tree"
    (cd "$tree" && CARGO_TARGET_DIR=$TARGET/compare/$slot-target \
        cargo build --profile "$PROFILE" -q -p chat-cli >&2)
    echo "$TARGET/compare/$slot-target/$(profile_dir)/chat"
}

# Each revision resolved once: a branch that moves during the run names
# the commit that was built.
resolve() { git rev-parse --verify --quiet "$1^{commit}" || { echo "error: no commit $1" >&2; exit 2; }; }
OLD_REV=${REVS[0]}
NEW_REV=${REVS[1]:-}
OLD_COMMIT=$(resolve "$OLD_REV")
NEW_COMMIT=""
[ -z "$NEW_REV" ] || NEW_COMMIT=$(resolve "$NEW_REV")
OLD=$(build_rev old "$OLD_COMMIT")
log "building the working tree ($PROFILE)"
cargo build --profile "$PROFILE" -q -p chat-cli
CHAT=$TARGET/$(profile_dir)/chat
if [ -n "$NEW_REV" ]; then
    NEW=$(build_rev new "$NEW_COMMIT")
    NEW_NAME="$NEW_REV ($(git log -1 --format='%h %cs' "$NEW_COMMIT"))"
else
    NEW=$CHAT
    NEW_NAME="working tree ($(git log -1 --format='%h %cs') $(git diff --quiet HEAD && echo clean || echo '+ changes'))"
fi
OLD_NAME="$OLD_REV ($(git log -1 --format='%h %cs' "$OLD_COMMIT"))"
if [ "$BUILD_ONLY" = 1 ]; then
    printf '%s\n%s\n' "$OLD" "$NEW"
    exit 0
fi

# Thousands of sockets on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
RESULTS=$TARGET/compare/results.jsonl
: > "$RESULTS"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$SECONDS
for runtime in "${RUNTIMES[@]}"; do
    for name in "${CASES[@]}"; do
        for run in $(seq "$RUNS"); do
            for build in old new; do
                if [ "$build" = old ]; then binary=$OLD; else binary=$NEW; fi
                measure_once "$(printf '"case":"%s","runtime":"%s","build":"%s","run":%d' \
                    "$name" "$runtime" "$build" "$run")" "$runtime" "$binary" "$name"
                log "$runtime $name $build run $run: $(summary "$LINE")"
            done
        done
    done
done
python3 "$ROOT/bench/compare.py" --results "$RESULTS" --old "$OLD_NAME" --new "$NEW_NAME" \
    --runs "$RUNS" --load-start "$LOAD_START" --load-end "$(cut -d' ' -f1-3 /proc/loadavg)" \
    --seconds $((SECONDS - T0)) --server-args "${SERVER_ARGS:-}"
log "raw results: $RESULTS"
