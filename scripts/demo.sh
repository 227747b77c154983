#!/usr/bin/env bash
# The demo: builds Ferrocast, starts it on its embedded defaults (SQLite and media under
# ./ferrocast-data), creates the channel "demo", publishes a live test pattern with sound into it
# through ffmpeg, and prints the playback URL. Ctrl-C stops everything.
#   scripts/demo.sh [serve flags, e.g. --http 0.0.0.0:8080]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh run
scripts/build-web.sh
cargo build --release --locked -p ferrocast-server
exec target/release/ferrocast demo "$@"
