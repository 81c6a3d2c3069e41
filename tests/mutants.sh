#!/usr/bin/env bash
# tests/mutants.sh: mutation testing of core/src (configuration in
# .cargo/mutants.toml). Every mutant is tested against the core's unit tests
# and the simulations, with a fixed seed so that two runs agree, and without
# shrinking (a failing mutant only has to fail).
#
# Usage: tests/mutants.sh [cargo-mutants arguments...]
#   e.g. tests/mutants.sh --re '^core/src/flood\.rs'   (one file: --file
#        would add to the configuration's examine_globs, not narrow them)
#        tests/mutants.sh --shard 1/4              (a quarter of the mutants)
#        tests/mutants.sh --in-place --re ...      (a few mutants, in this tree)
# Output: mutants.out/ (caught.txt, missed.txt, timeout.txt, unviable.txt).
# Needs cargo-mutants (cargo install --locked cargo-mutants@27.1.0). A full
# run of the ~1 000 mutants takes about 80 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CHAT_SIM_SEED=${CHAT_SIM_SEED:-1}
export CHAT_SIM_TESTS=${CHAT_SIM_TESTS:-500}
export CHAT_SIM_SHRINK=0
# The unmutated tree must pass the same tests first: the packages and
# targets of the configuration. (cargo-mutants' own baseline would test only
# the mutated package, which holds none of the simulations.)
config_list() { # the quoted strings of `$1 = [...]` in .cargo/mutants.toml
    awk -v key="$1" '$1 == key && $2 == "=" { on = 1 } on { print } on && /]/ { exit }' \
        .cargo/mutants.toml | grep -o '"[^"]*"' | tr -d '"'
}
packages=() targets=()
while read -r package; do packages+=(-p "$package"); done < <(config_list test_package)
while read -r arg; do targets+=("$arg"); done < <(config_list additional_cargo_args)
if ((${#packages[@]} == 0 || ${#targets[@]} == 0)); then
    echo "mutants.sh: no test_package or additional_cargo_args in .cargo/mutants.toml" >&2
    exit 2
fi
cargo test --profile mutants "${packages[@]}" "${targets[@]}" >/dev/null
# Two mutants at a time, each in its own copy of the tree; `--in-place`
# (one mutant at a time, in this tree, reusing its build) refuses `-j`.
jobs=(-j 2)
for arg in "$@"; do
    if [[ $arg == --in-place ]]; then jobs=(); fi
done
exec cargo mutants "${jobs[@]}" --baseline skip --timeout 30 --build-timeout 900 "$@"
