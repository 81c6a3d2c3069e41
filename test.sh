#!/usr/bin/env bash
# Runs every check CI runs, on a fresh machine with only cargo installed:
# installs what the tests need when it is missing (saying what and why),
# then formatting, lints and the whole test suite in release.
#
#   ./test.sh                 # everything, as CI does
#   ./test.sh --no-install    # fail at once instead of installing anything
#
# Installing needs Debian or Ubuntu (apt-get) and root, or sudo without a
# password. Elsewhere the script stops before building anything and prints
# the one command to run.
set -euo pipefail
cd "$(dirname "$0")"

install=yes
for arg in "$@"; do
    case $arg in
        --no-install) install=no ;;
        -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "test.sh: unknown argument '$arg' (see ./test.sh --help)" >&2; exit 2 ;;
    esac
done

say() { printf 'test.sh: %s\n' "$*" >&2; }

# What the tests run besides cargo: "command debian-package why".
NEEDS=(
    "redis-server redis-server the cluster's end-to-end tests start their own Redis"
)

missing_packages=()
for need in "${NEEDS[@]}"; do
    read -r command package why <<<"$need"
    if ! command -v "$command" >/dev/null 2>&1; then
        say "missing $command: $why"
        missing_packages+=("$package")
    fi
done

if ((${#missing_packages[@]})); then
    as_root=()
    if [[ $(id -u) != 0 ]] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    fi
    if [[ $install == no ]] || ! command -v apt-get >/dev/null 2>&1 ||
        { [[ $(id -u) != 0 ]] && ((${#as_root[@]} == 0)); }; then
        if command -v apt-get >/dev/null 2>&1; then
            say "install it, then run ./test.sh again:"
            say "    sudo apt-get install -y ${missing_packages[*]}"
        else
            say "install ${missing_packages[*]} with your system's package manager, then run ./test.sh again"
        fi
        exit 1
    fi
    say "installing ${missing_packages[*]} with apt-get"
    "${as_root[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "${missing_packages[@]}" >/dev/null
fi

# rustfmt and clippy come with rustup's default profile, not its minimal one.
if command -v rustup >/dev/null 2>&1; then
    for component in rustfmt clippy; do
        if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
            say "installing the $component component with rustup"
            rustup component add "$component"
        fi
    done
fi

step() {
    say "$*"
    "$@"
}
step cargo fmt --all --check
step cargo clippy --workspace --all-targets -- -D warnings
# --no-fail-fast: one failing test binary does not hide the results of the others.
step cargo test --workspace --release --no-fail-fast
