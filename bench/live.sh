#!/usr/bin/env bash
# Live spine benchmark: Ferrocast against nginx-rtmp (hls on), same input, same run.
#
#   bench/live.sh [--reps N] [--quick] [--skip-http] [--skip-memory]
#
# Prints, each as a ratio to the peer with the median over N runs (default 3):
#   1. server CPU-seconds per minute of one published 1080p30 6 Mbit/s channel;
#   2. server-side ingest-to-playlist latency (median and max), via the peer kit's relay probe;
#   3. requests/s for a playlist and a ~1 MB segment under wrk (100 connections), nginx serving
#      the same bytes from files;
#   4. resident memory with ten 6 Mbit/s channels live, against the bytes their windows hold, and
#      CPU per channel with ten channels and no HTTP clients;
#   5. server-side latency again with the probe polling every 10 ms (the default 50 ms poll puts
#      both servers at its resolution); CPU from this pass is not reported (100 polls/s skew it).
# Runs peer and Ferrocast alternately. Needs ../shared/peers (or FERROCAST_PEERS). Results and raw
# JSON go to bench/results/DATE/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${FERROCAST_PEERS:-$ROOT/../shared/peers}
REPS=3; QUICK=0; HTTP=1; MEMORY=1; FINE=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --reps) REPS=${2:?}; shift ;;
    --quick) QUICK=1 ;;
    --skip-http) HTTP=0 ;;
    --skip-memory) MEMORY=0 ;;
    --skip-fine-latency) FINE=0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ -d $PEERS ]] || { echo "peer kit not found at $PEERS (set FERROCAST_PEERS)" >&2; exit 1; }

"$ROOT/scripts/deps.sh" bench
"$ROOT/scripts/build-web.sh" >&2
cargo build --release --locked -p ferrocast-server --manifest-path "$ROOT/Cargo.toml" >&2
FC="$ROOT/target/release/ferrocast"
MEDIA="$ROOT/bench/media"
if [[ $QUICK == 1 ]]; then "$PEERS/make_media.sh" "$MEDIA" --quick >&2; INPUT="$MEDIA/quick.flv"; else "$PEERS/make_media.sh" "$MEDIA" >&2; INPUT="$MEDIA/input.flv"; fi
OUT="$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)"; mkdir -p "$OUT"
echo "# results in $OUT" >&2

FC_HTTP=127.0.0.1:18090; FC_RTMP=127.0.0.1:19360
DATA=$(mktemp -d)
cleanup() {
  [[ -n ${PUBS:-} ]] && kill $PUBS 2>/dev/null || true
  [[ -n ${FC_PID:-} ]] && kill "$FC_PID" 2>/dev/null || true
  "$PEERS/nginx_rtmp.sh" stop >/dev/null 2>&1 || true
  rm -rf "$DATA"
}
trap cleanup EXIT

# Like for like: nginx-rtmp serves plain HLS of the source only, so Ferrocast runs without LL-HLS
# parts (FERROCAST_PART_DURATION=500ms measures the default instead) and without the transcoding
# ladder here.
"$FC" serve --http "$FC_HTTP" --rtmp "$FC_RTMP" --data-dir "$DATA" --log-format json \
  --part-duration "${FERROCAST_PART_DURATION:-off}" --ladder off 2> "$OUT/ferrocast.log" &
FC_PID=$!
for _ in $(seq 100); do curl -sf "http://$FC_HTTP/readyz" >/dev/null && break; sleep 0.1; done
channel_key() { "$FC" channel --url "http://$FC_HTTP" --data-dir "$DATA" create "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["stream_key"])'; }
KEY=$(channel_key bench)
eval "$("$PEERS/nginx_rtmp.sh" start)"

echo "== 1+2. CPU and ingest latency, $REPS runs each, alternating" >&2
for i in $(seq "$REPS"); do
  "$PEERS/ingest_latency.py" --label nginx-rtmp --relay --reps 1 --input "$INPUT" --server-pid "$NGINX_PID" \
    --rtmp "${RTMP_PUBLISH_PREFIX}bench" --playlist "${PLAYLIST_URL_PATTERN/STREAM/bench}" > "$OUT/nginx-latency-$i.json"
  "$PEERS/ingest_latency.py" --label ferrocast --relay --reps 1 --input "$INPUT" --server-pid "$FC_PID" \
    --rtmp "rtmp://$FC_RTMP/live/$KEY" --playlist "http://$FC_HTTP/live/bench/master.m3u8" > "$OUT/ferrocast-latency-$i.json"
done
python3 - "$OUT" "$REPS" <<'PY' | tee "$OUT/summary.txt"
import json, statistics, sys
out, reps = sys.argv[1], int(sys.argv[2])
def load(name): return [json.load(open(f"{out}/{name}-latency-{i}.json")) for i in range(1, reps + 1)]
peer, dut = load("nginx"), load("ferrocast")
def med(runs, key, stat):
    vals = [r[key][stat] for r in runs if r.get(key)]
    return statistics.median(vals) if vals else float("nan")
print(f"runs: {reps} each (alternating); values are medians over runs")
a, b = med(dut, "server_cpu_s_per_media_min", "median"), med(peer, "server_cpu_s_per_media_min", "median")
print(f"CPU s per media minute: ferrocast {a:.3f}  nginx-rtmp {b:.3f}  ratio {a / b:.2f}  (goal <= 1.00)")
for stat in ("median", "max"):
    a, b = med(dut, "server_latency_s", stat), med(peer, "server_latency_s", stat)
    print(f"server-side latency {stat}: ferrocast {1000 * a:.0f} ms  nginx-rtmp {1000 * b:.0f} ms  ratio {a / b:.2f}  (goal <= 1.00)")
for stat in ("median", "max"):
    a, b = med(dut, "latency_s", stat), med(peer, "latency_s", stat)
    print(f"end-to-end latency {stat} (incl. publisher start-up): ferrocast {a:.3f} s  nginx-rtmp {b:.3f} s  ratio {a / b:.2f}")
print(f"peak RSS during one channel: ferrocast {max(r['server_rss_max_mib'] for r in dut)} MiB  nginx-rtmp {max(r['server_rss_max_mib'] for r in peer)} MiB")
for r in dut + peer:
    for w in r.get("warnings", []):
        print(f"warning ({r.get('label')}): {w}")
PY

if [[ $FINE == 1 ]]; then
  echo "== 5. server-side latency at 10 ms polling, $REPS runs each, alternating" >&2
  for i in $(seq "$REPS"); do
    "$PEERS/ingest_latency.py" --label nginx-rtmp --relay --reps 1 --poll 0.01 --input "$INPUT" \
      --rtmp "${RTMP_PUBLISH_PREFIX}fine" --playlist "${PLAYLIST_URL_PATTERN/STREAM/fine}" > "$OUT/nginx-fine-$i.json"
    "$PEERS/ingest_latency.py" --label ferrocast --relay --reps 1 --poll 0.01 --input "$INPUT" \
      --rtmp "rtmp://$FC_RTMP/live/$KEY" --playlist "http://$FC_HTTP/live/bench/master.m3u8" > "$OUT/ferrocast-fine-$i.json"
  done
  python3 - "$OUT" "$REPS" <<'PY' | tee -a "$OUT/summary.txt"
import json, statistics, sys
out, reps = sys.argv[1], int(sys.argv[2])
def load(name): return [json.load(open(f"{out}/{name}-fine-{i}.json")) for i in range(1, reps + 1)]
peer, dut = load("nginx"), load("ferrocast")
for stat in ("median", "max"):
    a = statistics.median(r["server_latency_s"][stat] for r in dut)
    b = statistics.median(r["server_latency_s"][stat] for r in peer)
    print(f"server-side latency {stat} at 10 ms polling: ferrocast {1000 * a:.1f} ms  nginx-rtmp {1000 * b:.1f} ms  ratio {a / b:.2f}  (goal <= 1.00)")
PY
fi

if [[ $HTTP == 1 ]]; then
  echo "== 3. HTTP: the same playlist and segment bytes from both servers" >&2
  # The last broadcast has ended; its playlist and segments stay served, so the bytes are stable.
  MP="http://$FC_HTTP/live/bench/source/index.m3u8"
  SEG_URI=$(curl -sf "$MP" | grep -v '^#' | sed -n 2p)
  FC_PL=$MP; FC_SEG="http://$FC_HTTP/live/bench/source/$SEG_URI"
  curl -sf -o "${STATIC_DIR}playlist.m3u8" "$FC_PL"; curl -sf -o "${STATIC_DIR}segment.m4s" "$FC_SEG"
  echo "segment bytes: $(stat -c %s "${STATIC_DIR}segment.m4s")" | tee -a "$OUT/summary.txt"
  "$PEERS/http_bench.sh" "$FC_PL" "${STATIC_URL_PREFIX}playlist.m3u8" "$FC_SEG" "${STATIC_URL_PREFIX}segment.m4s" --runs "$REPS" | tee "$OUT/http.txt" >&2
  python3 - "$OUT/http.txt" <<'PY' | tee -a "$OUT/summary.txt"
import re, sys
rows = [dict(re.findall(r"(\w+)=(\S+)", l)) for l in open(sys.argv[1]) if l.startswith("RESULT")]
for name, (dut, peer) in (("playlist", rows[0:2]), ("segment", rows[2:4])):
    a, b = float(dut["rps"]), float(peer["rps"])
    print(f"HTTP {name} req/s (median of runs): ferrocast {a:.0f}  nginx {b:.0f}  ratio {a / b:.2f}  (goal >= 1.00)"
          f"  p99 {dut['p99_ms']} ms vs {peer['p99_ms']} ms  errors {dut['errors']}/{peer['errors']}")
PY
fi

if [[ $MEMORY == 1 ]]; then
  echo "== 4. Memory with ten channels live" >&2
  PUBS=""
  for i in $(seq 0 9); do
    K=$(channel_key "mem$i")
    ffmpeg -hide_banner -loglevel error -nostdin -re -stream_loop -1 -i "$INPUT" -c copy -f flv "rtmp://$FC_RTMP/live/$K" &
    PUBS="$PUBS $!"
  done
  sleep 20
  cpu_of() { # PID: utime+stime ticks of PID and its children
    local t=0 p
    for p in $1 $(pgrep -P "$1"); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
    echo $t
  }
  FC_T0=$(cpu_of "$FC_PID"); sleep 30; FC_T1=$(cpu_of "$FC_PID")
  python3 - "$FC_PID" "$FC_HTTP" <<'PY' | tee -a "$OUT/summary.txt"
import re, statistics, sys, time, urllib.request
pid, http = sys.argv[1], sys.argv[2]
def rss():
    return int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{pid}/status").read()).group(1)) * 1024
def get(path, method="GET"):
    return urllib.request.urlopen(urllib.request.Request(f"http://{http}{path}", method=method), timeout=10)
samples, held, listed = [], [], []
for _ in range(5):
    samples.append(rss())
    m = get("/metrics").read().decode()
    held.append(float(re.search(r"^ferrocast_live_held_bytes (\S+)", m, re.M).group(1)))
    total = 0
    for i in range(10):
        pl = get(f"/live/mem{i}/source/index.m3u8").read().decode()
        uris = [l for l in pl.splitlines() if l and not l.startswith("#")]
        maps = re.findall(r'#EXT-X-MAP:URI="([^"]+)"', pl)
        for u in uris + maps:
            total += int(get(f"/live/mem{i}/source/{u}", "HEAD").headers["Content-Length"])
    listed.append(total)
    time.sleep(2)
r, h, l = statistics.median(samples), statistics.median(held), statistics.median(listed)
print(f"ten channels: RSS {r / 2**20:.0f} MiB; bytes listed in the ten playlist windows {l / 2**20:.0f} MiB "
      f"(ratio {r / l:.2f}, goal <= 2.00); bytes held in the rings incl. segments kept downloadable after "
      f"leaving the window (RFC 8216 6.2.2) {h / 2**20:.0f} MiB (ratio {r / h:.2f})")
PY
  kill $PUBS 2>/dev/null || true; PUBS=""
  # The same ten channels into nginx-rtmp: ingest and packaging CPU with no HTTP polling at all.
  for i in $(seq 0 9); do
    ffmpeg -hide_banner -loglevel error -nostdin -re -stream_loop -1 -i "$INPUT" -c copy -f flv "${RTMP_PUBLISH_PREFIX}mem$i" &
    PUBS="$PUBS $!"
  done
  sleep 20
  NG_T0=$(cpu_of "$NGINX_PID"); sleep 30; NG_T1=$(cpu_of "$NGINX_PID")
  kill $PUBS 2>/dev/null || true; PUBS=""
  python3 -c "
a, b = ($FC_T1 - $FC_T0) / 100 / 30 * 60 / 10, ($NG_T1 - $NG_T0) / 100 / 30 * 60 / 10
print(f'ten channels, CPU s per channel per media minute (no HTTP clients): ferrocast {a:.3f}  nginx-rtmp {b:.3f}  ratio {a / b:.2f}')
" | tee -a "$OUT/summary.txt"
fi
echo "# summary: $OUT/summary.txt" >&2
