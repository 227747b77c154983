#!/usr/bin/env bash
# Chat benchmark: the Rust load generator (bench/load, binary chat-load) against the release binary.
#
#   bench/chat.sh [--reps N] [--quick] [--only A|B|C]
#
# Scenarios (the load generator runs on the same machine):
#   A. 10,000 connections in one room, 100 messages/s into it (1M deliveries/s);
#   B. 1,000 rooms of 10 connections, 1 message/s per room;
#   C. churn: 1,000 connects+disconnects per second for 60 s, then the server's memory and open
#      connections against its baseline.
# Each prints delivered messages per second, loss, p50/p99 delivery latency, server CPU and
# resident memory per idle connection. --quick scales A and B down ten times and C to 10 s.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REPS=1; QUICK=0; ONLY=ABC
while [[ $# -gt 0 ]]; do
  case $1 in
    --reps) REPS=${2:?}; shift ;;
    --quick) QUICK=1 ;;
    --only) ONLY=${2:?}; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
"$ROOT/scripts/build-web.sh" >&2
cargo build --release --locked -p ferrocast-server -p ferrocast-load --manifest-path "$ROOT/Cargo.toml" >&2
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
FC="$TARGET/release/ferrocast"; LOAD="$TARGET/release/chat-load"
OUT="$ROOT/bench/results/chat-$(date +%Y%m%d-%H%M%S)"; mkdir -p "$OUT"
HTTP=127.0.0.1:18095
ulimit -n "$(ulimit -Hn)"
if [[ $QUICK == 1 ]]; then A=(--conns-per-room 1000 --rate 100 --duration 10); B=(--rooms 100 --conns-per-room 10 --rate 1 --duration 10); C=(--rate 1000 --duration 10)
else A=(--conns-per-room 10000 --rate 100 --duration 30); B=(--rooms 1000 --conns-per-room 10 --rate 1 --duration 30); C=(--rate 1000 --duration 60); fi

run_server() {
  DATA=$(mktemp -d)
  "$FC" serve --http "$HTTP" --rtmp 127.0.0.1:0 --data-dir "$DATA" --log-format json 2> "$OUT/server-$1.log" &
  FC_PID=$!
  for _ in $(seq 100); do curl -sf "http://$HTTP/readyz" >/dev/null && break; sleep 0.1; done
  TOKEN=$(cat "$DATA/admin-token")
  for r in $(seq 0 $(( $2 - 1 ))); do
    curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
      -d "{\"name\":\"load$r\"}" "http://$HTTP/api/v1/channels"
  done
}
stop_server() { kill "$FC_PID" 2>/dev/null; wait "$FC_PID" 2>/dev/null || true; rm -rf "$DATA"; }
trap 'stop_server 2>/dev/null || true' EXIT

for i in $(seq "$REPS"); do
  if [[ $ONLY == *A* ]]; then
    echo "== A. one room, many connections (run $i)" | tee -a "$OUT/summary.txt"
    run_server "a$i" 1
    "$LOAD" --server "$HTTP" --pid "$FC_PID" fanout --rooms 1 "${A[@]}" | tee -a "$OUT/summary.txt"
    stop_server
  fi
  if [[ $ONLY == *B* ]]; then
    echo "== B. many rooms (run $i)" | tee -a "$OUT/summary.txt"
    run_server "b$i" "$(( QUICK == 1 ? 100 : 1000 ))"
    "$LOAD" --server "$HTTP" --pid "$FC_PID" fanout "${B[@]}" | tee -a "$OUT/summary.txt"
    stop_server
  fi
  if [[ $ONLY == *C* ]]; then
    echo "== C. churn (run $i)" | tee -a "$OUT/summary.txt"
    run_server "c$i" 1
    "$LOAD" --server "$HTTP" --pid "$FC_PID" churn "${C[@]}" | tee -a "$OUT/summary.txt"
    stop_server
  fi
done
echo "# results in $OUT/summary.txt" >&2
