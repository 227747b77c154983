#!/usr/bin/env bash
# Web app benchmark: what a viewer of the watch page gets, and what serving the pages costs.
#
#   bench/web.sh [--runs N] [--ladder on|off] [--no-build]
#
#  1. Player startup (page load to first frame) and steady-state live latency as hls.js reports
#     them on the watch page, over N runs (default 5) on a live channel publishing the standard
#     1080p30 input, with LL-HLS on (500 ms parts) and with LL-HLS off (regular HLS), medians.
#     Each run is a fresh browser (tests/browser/webapp.mjs watch, 10 s of playback).
#  2. The directory (/) and a watch page (/CHANNEL) served by the binary: requests per second
#     (wrk, 4 connections, 10 s, Accept-Encoding: br) and what the watch page transfers
#     (compressed bytes of the document, scripts and styles the browser loaded).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${FERROCAST_PEERS:-$ROOT/../shared/peers}
RUNS=5; LADDER=on; BUILD=true
while [[ $# -gt 0 ]]; do
  case $1 in
    --runs) RUNS=${2:?}; shift ;;
    --ladder) LADDER=${2:?}; shift ;;
    --no-build) BUILD=false ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
"$ROOT/scripts/deps.sh" bench
"$ROOT/scripts/deps.sh" browser
if $BUILD; then
  "$ROOT/scripts/build-web.sh" >&2
  cargo build --release --locked -p ferrocast-server --manifest-path "$ROOT/Cargo.toml" >&2
fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
FC="$TARGET/release/ferrocast"
"$PEERS/make_media.sh" "$ROOT/bench/media" >&2
OUT="$ROOT/bench/results/web-$(date +%Y%m%d-%H%M%S)"; mkdir -p "$OUT"
HTTP=127.0.0.1:18097; RTMP=127.0.0.1:19397
cleanup() {
  [[ -n ${PUB:-} ]] && kill "$PUB" 2>/dev/null || true
  [[ -n ${FC_PID:-} ]] && kill "$FC_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  [[ -n ${DATA:-} ]] && rm -rf "$DATA"
}
trap cleanup EXIT

start() { # $1: --part-duration value
  DATA=$(mktemp -d)
  "$FC" serve --http "$HTTP" --rtmp "$RTMP" --data-dir "$DATA" --log-format json --ladder "$LADDER" \
    --part-duration "$1" 2> "$OUT/server-$1.log" &
  FC_PID=$!
  for _ in $(seq 100); do curl -sf "http://$HTTP/readyz" >/dev/null && break; sleep 0.1; done
  KEY=$(curl -sf -H "Authorization: Bearer $(cat "$DATA/admin-token")" -H 'content-type: application/json' \
    -d '{"name":"bench"}' "http://$HTTP/api/v1/channels" | python3 -c 'import json,sys; print(json.load(sys.stdin)["stream_key"])')
  ffmpeg -loglevel error -re -stream_loop -1 -i "$ROOT/bench/media/input.flv" -c copy -f flv "rtmp://$RTMP/live/$KEY" &
  PUB=$!
  for _ in $(seq 300); do curl -sf "http://$HTTP/live/bench/master.m3u8" >/dev/null && break; sleep 0.1; done
  sleep 8 # a few segments in every rendition
}
stop() {
  kill "$PUB" 2>/dev/null || true; kill "$FC_PID" 2>/dev/null || true; wait 2>/dev/null || true
  rm -rf "$DATA"; PUB=; FC_PID=
}

for mode in 500ms off; do
  start "$mode"
  for i in $(seq "$RUNS"); do
    node "$ROOT/tests/browser/webapp.mjs" watch "http://$HTTP" bench --seconds 10 --no-switch > "$OUT/watch-$mode-$i.json" 2>> "$OUT/watch-$mode.log" || true
  done
  if [[ $mode == 500ms ]]; then
    {
      echo "== serving the pages (wrk, 4 connections, 10 s, brotli)"
      for path in / /bench; do
        rps=$(wrk -t2 -c4 -d10s -H 'Accept-Encoding: br' "http://$HTTP$path" | awk '/Requests\/sec/ {print $2}')
        echo "  GET $path: $rps requests/s"
      done
    } | tee -a "$OUT/summary.txt"
  fi
  stop
done

python3 - "$OUT" "$RUNS" <<'PY' | tee -a "$OUT/summary.txt"
import json, statistics, sys, glob
out, runs = sys.argv[1], int(sys.argv[2])
def load(mode):
    rs = []
    for i in range(1, runs + 1):
        try:
            with open(f"{out}/watch-{mode}-{i}.json") as f:
                rs.append(json.loads(f.read().strip().splitlines()[-1]))
        except Exception as e:
            rs.append({"ok": False, "error": str(e)})
    return rs
def med(xs):
    xs = [x for x in xs if isinstance(x, (int, float))]
    return statistics.median(xs) if xs else float("nan")
for mode, label in (("500ms", "LL-HLS on (500 ms parts)"), ("off", "LL-HLS off")):
    rs = load(mode)
    ok = sum(1 for r in rs if r.get("ok"))
    startup = [r.get("startup_ms") for r in rs]
    latency = [r.get("latency_s") for r in rs]
    stalls = [r.get("stalls") for r in rs]
    print(f"== watch page, {label}: {ok}/{len(rs)} runs played")
    print(f"  startup ms (page load -> first frame): median {med(startup):.0f}  runs {startup}")
    print(f"  live latency s (hls.js): median {med(latency):.2f}  runs {latency}")
    print(f"  stalls per run: {stalls}")
    pb = [r.get("page_bytes") for r in rs if r.get("page_bytes")]
    if mode == "500ms" and pb:
        p = pb[0]
        print(f"  watch page transfer: {p.get('encoded', 0)/1024:.1f} KiB compressed, "
              f"{p.get('decoded', 0)/1024:.1f} KiB uncompressed ({p.get('count', 0)} files: document, scripts, styles)")
PY
echo "# results in $OUT/summary.txt" >&2
