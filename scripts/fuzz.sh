#!/usr/bin/env bash
# Runs every cargo-fuzz target for N seconds (default 60) on the nightly toolchain, after replaying
# the committed regression inputs in fuzz/regressions/TARGET/. A crash fails the script and leaves
# its input in fuzz/artifacts/ — commit it to fuzz/regressions/ and as a unit test.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
[[ $secs == 0 ]] && { echo "fuzzing skipped"; exit 0; }
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzzing skipped: no nightly toolchain installed" >&2
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "# installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked >&2
fi
cd fuzz
for target in $(cargo +nightly fuzz list); do
  corpus=corpus/$target
  mkdir -p "$corpus"
  [[ -d regressions/$target ]] && cp -n regressions/$target/* "$corpus/" 2>/dev/null || true
  echo "# fuzz $target for ${secs}s"
  log=$(mktemp)
  if ! cargo +nightly fuzz run "$target" "$corpus" -- -max_total_time="$secs" -rss_limit_mb=2048 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz target $target failed; the crashing input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^Done [0-9]+ runs' "$log" || tail -n 2 "$log"
  rm -f "$log"
done
