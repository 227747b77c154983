#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit/property/end-to-end tests, and a short fuzz run.
# Installs what it needs (Debian packages, cargo-fuzz) when missing. CI runs exactly this.
#   FUZZ_SECONDS=N  seconds per fuzz target (default 20; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

scripts/deps.sh test

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
echo "== fuzz smoke run"
scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
echo "== all tests passed"
