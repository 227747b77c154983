#!/usr/bin/env bash
# LL-HLS benchmark: thousands of blocking playlist requests on one live channel, and the part
# production latency, on the source rendition.
#
#   bench/llhls.sh [--conns N] [--duration S] [--reps N] [--generator normal|idle|both]
#
# Publishes the standard 1080p30 input (looped, real time) and runs ll-load (bench/load): N keep-alive
# connections each follow the live edge with blocking reloads (_HLS_msn/_HLS_part of the preload
# hint). Prints, per run: how long after the first answer for a part every other waiting request
# got its answer (p50/p99/max), server memory per waiting request and CPU, and the server's own
# part production latency (last frame of a part received → part listed) and how long after the
# part was listed the waiting requests were released (server side), from /metrics.
#
# The load generator shares the two cores with the server; each burst costs it about as much CPU
# as the server. `--generator idle` runs it under SCHED_IDLE, so it only takes CPU the server
# leaves: this stands for viewers on other machines, and the server-side release figure is then
# the server's own. It reads its answers late, so its own figures grow. `both` (the default)
# runs each repetition both ways, on a fresh server each.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${FERROCAST_PEERS:-$ROOT/../shared/peers}
CONNS=5000; DURATION=30; REPS=1; GENERATOR=both
while [[ $# -gt 0 ]]; do
  case $1 in
    --conns) CONNS=${2:?}; shift ;;
    --duration) DURATION=${2:?}; shift ;;
    --reps) REPS=${2:?}; shift ;;
    --generator) GENERATOR=${2:?}; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
"$ROOT/scripts/deps.sh" bench
"$ROOT/scripts/build-web.sh" >&2
cargo build --release --locked -p ferrocast-server -p ferrocast-load --manifest-path "$ROOT/Cargo.toml" >&2
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
FC="$TARGET/release/ferrocast"; LOAD="$TARGET/release/ll-load"
"$PEERS/make_media.sh" "$ROOT/bench/media" >&2
OUT="$ROOT/bench/results/llhls-$(date +%Y%m%d-%H%M%S)"; mkdir -p "$OUT"
HTTP=127.0.0.1:18098; RTMP=127.0.0.1:19398
ulimit -n "$(ulimit -Hn)"
cleanup() {
  [[ -n ${PUB:-} ]] && kill "$PUB" 2>/dev/null || true
  [[ -n ${FC_PID:-} ]] && kill "$FC_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  [[ -n ${DATA:-} ]] && rm -rf "$DATA"
}
trap cleanup EXIT

case $GENERATOR in
  both) MODES="normal idle" ;;
  normal|idle) MODES=$GENERATOR ;;
  *) echo "--generator takes normal, idle or both" >&2; exit 2 ;;
esac
RUNS=$(for i in $(seq "$REPS"); do for m in $MODES; do echo "$i:$m"; done; done)
for run in $RUNS; do
  i=${run%%:*}; mode=${run#*:}
  WRAP=(); [[ $mode == idle ]] && WRAP=(chrt --idle 0)
  DATA=$(mktemp -d)
  # The source rendition alone: the transcoder would compete for the two cores.
  "$FC" serve --http "$HTTP" --rtmp "$RTMP" --data-dir "$DATA" --log-format json --ladder off 2> "$OUT/server-$i-$mode.log" &
  FC_PID=$!
  for _ in $(seq 100); do curl -sf "http://$HTTP/readyz" >/dev/null && break; sleep 0.1; done
  KEY=$(curl -sf -H "Authorization: Bearer $(cat "$DATA/admin-token")" -H 'content-type: application/json' \
    -d '{"name":"ll"}' "http://$HTTP/api/v1/channels" | python3 -c 'import json,sys; print(json.load(sys.stdin)["stream_key"])')
  ffmpeg -loglevel error -re -stream_loop -1 -i "$ROOT/bench/media/input.flv" -c copy -f flv "rtmp://$RTMP/live/$KEY" &
  PUB=$!
  for _ in $(seq 200); do curl -sf "http://$HTTP/live/ll/source/index.m3u8" 2>/dev/null | grep -q PRELOAD-HINT && break; sleep 0.1; done
  # Let the segment ring reach its steady size, so memory growth is the waiting requests'.
  sleep 30
  echo "== run $i, generator $mode: $CONNS blocking requests for ${DURATION}s" | tee -a "$OUT/summary.txt"
  "${WRAP[@]}" "$LOAD" --server "$HTTP" --path /live/ll/source/index.m3u8 --conns "$CONNS" --duration "$DURATION" --pid "$FC_PID" | tee -a "$OUT/summary.txt"
  curl -sf "http://$HTTP/metrics" | python3 -c '
import sys, re
def histogram(text, name, labels=""):
    buckets = []
    for m in re.finditer(name + r"_bucket\{(.*)le=\"([^\"]+)\"\} (\S+)", text):
        if labels in m.group(1):
            buckets.append((float("inf") if m.group(2) == "+Inf" else float(m.group(2)), float(m.group(3))))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0
    def q(p):
        for le, c in buckets:
            if c >= p * total:
                return le * 1000
        return float("nan")
    return int(total), q
text = sys.stdin.read()
n, q = histogram(text, "ferrocast_part_publish_latency_seconds")
print(f"part production latency (server, frame in -> part listed): parts {n} p50 <= {q(0.5):.0f} ms p99 <= {q(0.99):.0f} ms")
n, q = histogram(text, "ferrocast_hls_blocking_release_seconds", "kind=\"playlist\"")
print(f"release latency (server, part listed -> blocked request answered): requests {n} p50 <= {q(0.5):.0f} ms p99 <= {q(0.99):.0f} ms max <= {q(1.0):.0f} ms")
' | tee -a "$OUT/summary.txt"
  kill "$PUB" 2>/dev/null || true; kill "$FC_PID" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DATA"; PUB=; FC_PID=
done
echo "# results in $OUT/summary.txt" >&2
