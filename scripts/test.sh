#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit/property/end-to-end tests, and a short fuzz run.
# Installs what it needs (Debian packages, cargo-fuzz) when missing. CI runs exactly this.
#   FUZZ_SECONDS=N  seconds per fuzz target (default 20; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

scripts/deps.sh test
scripts/build-web.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# No crate has doc examples; skipping doctests avoids a run of empty harnesses.
cargo test --workspace --locked --lib --bins --tests 2>&1 | tee "$log"
echo "== fuzz smoke run"
scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
passed=$(grep -oE '^test result: ok\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')
echo "== all tests passed"
echo "tests: $passed passed, 0 failed"
