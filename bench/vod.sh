#!/usr/bin/env bash
# Video-on-demand benchmark: transcoding an upload against plain ffmpeg, renditions in parallel,
# 2 GB uploads through each path, and the job queue's throughput.
#
#   bench/vod.sh [--runs N] [--no-build] [--seconds S] [--upload-bytes N] [--skip-upload] [--skip-queue]
#
# Input: scripts/make-vod-sample.sh's 1080p30 test file (testsrc2 + a tone, H.264 + AAC, MP4),
# S seconds long (default 60).
#
# A. Ours against plain ffmpeg, N runs each (default 3), alternating (ours first in odd runs).
#    Ours: `ferrocast serve --workers 1` on a fresh data directory; a video is created with the
#    admin token and the file sent with curl to its upload URL (PUT), then the video's event
#    stream is read until it ends (ready or failed). Wall = from the upload's completion to the
#    end of the stream. CPU = utime+stime+cutime+cstime of the server and every descendant alive,
#    read from /proc at the upload's completion and at ready (the workers' ffprobe and ffmpeg
#    processes are the server's children: once reaped, their CPU is in its cutime/cstime; while
#    they run, in their own /proc entries). So CPU is everything the server spent on the video:
#    probe, transcode, packaging, MP4, poster and sprite, quality checks, and the server itself.
#    Plain: the transcode step's exact ffmpeg command line, read from /proc/PID/cmdline while the
#    first run's transcode runs (same filter graph, scaling, x264 preset, bitrates, VBV, keyframes
#    every 2 s, AAC 128k), with its input replaced by the sample and each rung's FLV output by an
#    HLS VOD output (fMP4, 4 s segments) to a scratch directory: one process decoding once and
#    encoding the ladder. Its CPU is its rusage (user+sys, os.wait4) and wall its run time.
#    Printed: medians and the ratios ours/plain (goal for CPU: at most 1.05).
# B. The same video with `--workers 2 --vod-rendition-jobs 2` (the renditions split over two
#    transcode jobs run at once), N runs: wall and CPU medians, and the wall-time gain over A.
# C. Uploads of an N-byte file of random bytes (default 2 GiB) to a server with `--workers 0`
#    (nothing processes it: only the upload is measured; it would be refused as not a video):
#    through the direct PUT URL (curl -T, streaming) and through tus (tests/vod/tus-upload.mjs,
#    tus-js-client in node, 64 MiB PATCH requests). Throughput = bytes / the client's wall time
#    (MB = 10^6 bytes); memory = the server's peak RSS during the upload (VmHWM, reset through
#    /proc/PID/clear_refs just before) minus its RSS before (goal: growth under 64 MB).
# D. The job queue: `cargo test --release -p ferrocast-jobs --test leases throughput -- --ignored`
#    (no-op jobs enqueued and completed per second on SQLite with 4 workers; goal >= 2,000/s).
#
# Raw results (per-run JSON, server logs, event streams, the command lines) and summary.txt go to
# bench/results/vod-DATE/. Server data and scratch files go to $FERROCAST_BENCH_TMP (default
# /var/tmp: the 2 GB files need a disk, not a tmpfs). The figures are only meaningful on a quiet
# machine: the client, the server and ffmpeg share its cores.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=3; BUILD=1; LENGTH=60; UPLOAD_BYTES=$((2 << 30)); UPLOADS=1; QUEUE=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --runs) RUNS=${2:?}; shift ;;
    --no-build) BUILD=0 ;;
    --seconds) LENGTH=${2:?}; shift ;;
    --upload-bytes) UPLOAD_BYTES=${2:?}; shift ;;
    --skip-upload) UPLOADS=0 ;;
    --skip-queue) QUEUE=0 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

"$ROOT/scripts/deps.sh" bench
if [[ $BUILD == 1 ]]; then
  "$ROOT/scripts/build-web.sh" >&2
  cargo build --release --locked -p ferrocast-server --manifest-path "$ROOT/Cargo.toml" >&2
fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
FC="$TARGET/release/ferrocast"
[[ -x $FC ]] || { echo "no $FC: build it (drop --no-build)" >&2; exit 1; }
# The tus client's npm package, exactly as tests/vod/package-lock.json pins it.
if [[ $UPLOADS == 1 && ! -f $ROOT/tests/vod/node_modules/.package-lock.json ]]; then
  (cd "$ROOT/tests/vod" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
SAMPLE="$ROOT/bench/media/vod-${LENGTH}s.mp4"
mkdir -p "$ROOT/bench/media"
"$ROOT/scripts/make-vod-sample.sh" "$SAMPLE" "$LENGTH"

OUT="$ROOT/bench/results/vod-$(date +%Y%m%d-%H%M%S)"; mkdir -p "$OUT"
echo "# results in $OUT" >&2
SCRATCH=$(mktemp -d "${FERROCAST_BENCH_TMP:-/var/tmp}/ferrocast-vod.XXXXXX")
HTTP=127.0.0.1:18098; RTMP=127.0.0.1:19398
for port in 18098 19398; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "port $port is in use" >&2; exit 1; fi
done

PIDS=()      # every process this script started and has not stopped yet
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
# forget, stop, cpu_sample.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

{
  echo "date: $(date -Is)"
  echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (working tree modified)')"
  echo "input: $SAMPLE"
  ffprobe -v error -show_entries format=duration,size:stream=codec_name,width,height,r_frame_rate,bit_rate -of compact "$SAMPLE"
  echo "ffmpeg: $(ffmpeg -version | head -1)"
  echo "cores: $(nproc); runs: $RUNS"
} > "$OUT/setup.txt"

# json FILE KEY.PATH: one field of a JSON file (objects only), printed as JSON for objects and
# lists, as text otherwise.
json() {
  python3 - "$@" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(json.dumps(v) if isinstance(v, (dict, list)) else ("" if v is None else v))
PY
}


# capture_transcode PID FILE: waits (in the background) for the transcode ffmpeg under PID (the
# one with a `split` filter graph) and writes its arguments to FILE, one per line.
capture_transcode() {
  python3 - "$1" "$2" <<'PY' &
import os, sys, time
root, out = sys.argv[1], sys.argv[2]
def descendants(pid):
    # Every thread's children: the server spawns from its runtime's worker threads.
    kids = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            kids += open(f"/proc/{pid}/task/{t}/children").read().split()
    except OSError:
        return []
    return kids + [d for k in kids for d in descendants(k)]
while os.path.exists(f"/proc/{root}"):
    for p in descendants(root):
        try:
            args = open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")[:-1]
        except OSError:
            continue
        if args and os.path.basename(args[0]) == b"ffmpeg" and any(a.startswith(b"[0:v:0]split=") for a in args):
            open(out, "wb").write(b"\n".join(args[1:]) + b"\n")
            sys.exit(0)
    time.sleep(0.5)
PY
  CAPTURE_PID=$!; PIDS+=("$CAPTURE_PID")
}

start_server() { # LABEL [serve options...]: a fresh data directory; sets FC_PID, DATA, TOKEN
  local label=$1; shift
  DATA=$(mktemp -d "$SCRATCH/data.XXXXXX")
  "$FC" serve --http "$HTTP" --rtmp "$RTMP" --data-dir "$DATA" --log-format json "$@" 2> "$OUT/$label-server.log" &
  FC_PID=$!; PIDS+=("$FC_PID")
  local i
  for i in $(seq 100); do curl -sf "http://$HTTP/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://$HTTP/readyz" >/dev/null || { echo "the server did not start; see $OUT/$label-server.log" >&2; exit 1; }
  TOKEN=$(cat "$DATA/admin-token")
}
stop_server() { stop "$FC_PID"; rm -rf "$DATA"; }

api() { # METHOD PATH [JSON]: the API with the admin token; the body on stdout
  curl -sSf -X "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' ${3:+-d "$3"} "http://$HTTP$2"
}

create_video() { # LABEL: creates a video; its answer in LABEL-created.json, its id on stdout
  api POST /api/v1/videos "{\"title\":\"bench $1\",\"visibility\":\"public\"}" > "$OUT/$1-created.json"
  json "$OUT/$1-created.json" id
}

put_upload() { # LABEL FILE: the file to the video's upload URL (curl streams it); prints "SECONDS"
  local created="$OUT/$1-created.json" h hdrs=()
  while IFS= read -r h; do [[ -n $h ]] && hdrs+=(-H "$h"); done < <(python3 -c '
import json, sys
for k, v in json.load(open(sys.argv[1]))["upload"]["headers"].items():
    print(f"{k}: {v}")' "$created")
  local t0 t1; t0=$(date +%s.%N)
  curl -sSf -X "$(json "$created" upload.method)" "${hdrs[@]}" -T "$2" -o "$OUT/$1-upload.txt" "$(json "$created" upload.url)"
  if [[ $(json "$created" upload.complete_required) == True ]]; then
    api POST "/api/v1/videos/$(json "$created" id)/complete" > /dev/null
  fi
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.3f}')"
}

wait_final() { # LABEL ID: reads the video's event stream until it ends; fails unless ready
  curl -sS -N --max-time 3600 -H "Authorization: Bearer $TOKEN" "http://$HTTP/api/v1/videos/$2/events" > "$OUT/$1-events.txt" || true
  api GET "/api/v1/videos/$2" > "$OUT/$1-video.json"
  local state; state=$(json "$OUT/$1-video.json" state)
  [[ $state == ready ]] || { echo "$1: the video is $state: $(json "$OUT/$1-video.json" error); see $OUT/$1-server.log" >&2; exit 1; }
}

# run_ours LABEL [serve options...]: one video through the server; writes LABEL.json.
run_ours() {
  local label=$1; shift
  start_server "$label" "$@"
  CAPTURE_PID=""
  [[ -s $OUT/transcoder.args ]] || capture_transcode "$FC_PID" "$OUT/transcoder.args"
  local id a b; id=$(create_video "$label")
  put_upload "$label" "$SAMPLE" > /dev/null
  a=$(cpu_sample "$FC_PID")
  wait_final "$label" "$id"
  b=$(cpu_sample "$FC_PID")
  [[ -z $CAPTURE_PID ]] || stop "$CAPTURE_PID"
  stop_server
  python3 - "$a" "$b" "$OUT/$label-video.json" > "$OUT/$label.json" <<'PY'
import json, sys
(w0, c0), (w1, c1) = (map(float, s.split()) for s in sys.argv[1:3])
v = json.load(open(sys.argv[3]))
print(json.dumps({"wall_s": w1 - w0, "cpu_s": c1 - c0, "duration_s": v.get("duration"),
                  "renditions": [r["name"] for r in v.get("renditions") or []]}))
PY
  echo "$label: $(json "$OUT/$label.json" wall_s) s wall, $(json "$OUT/$label.json" cpu_s) CPU-s" >&2
}

# plain_args ARGS_FILE DIR: the transcode's arguments with the sample as input and each FLV output
# (`-protocol_whitelist file -f flv file:PATH/NAME.flv`) written as HLS VOD to DIR/NAME/.
plain_args() {
  python3 - "$1" "$SAMPLE" "$2" <<'PY'
import os, sys
args = open(sys.argv[1]).read().split("\n")[:-1]
sample, hls = sys.argv[2], sys.argv[3]
out, i, outputs = [], 0, 0
while i < len(args):
    a = args[i]
    if a == "-i":
        out += ["-i", f"file:{sample}"]; i += 2; continue
    if args[i:i + 3] == ["-protocol_whitelist", "file", "-f"] and args[i + 3] == "flv":
        name = os.path.splitext(os.path.basename(args[i + 4]))[0]
        d = f"{hls}/{name}"
        os.makedirs(d, exist_ok=True)
        out += ["-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
                "-hls_fmp4_init_filename", "init.mp4", "-hls_segment_filename", f"{d}/%d.m4s", f"{d}/index.m3u8"]
        outputs += 1; i += 5; continue
    out.append(a); i += 1
if outputs == 0 or "-i" not in out:
    sys.exit("could not rewrite the transcode's command line (no FLV outputs or no input)")
print("\n".join(out))
PY
}

# run_plain LABEL: plain ffmpeg with the transcode's settings; writes LABEL.json.
run_plain() {
  local label=$1 dir="$SCRATCH/$1"
  plain_args "$OUT/transcoder.args" "$dir" > "$OUT/$label.args"
  python3 - "$OUT/$label.args" "$OUT/$label.log" > "$OUT/$label.json" <<'PY'
import json, os, sys, time
argv = ["ffmpeg"] + open(sys.argv[1]).read().split("\n")[:-1]
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    log = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1); os.dup2(log, 2)
    os.execvp("ffmpeg", argv)
_, status, ru = os.wait4(pid, 0)
wall = time.monotonic() - t0
if os.waitstatus_to_exitcode(status) != 0:
    sys.exit(f"plain ffmpeg failed; see {sys.argv[2]}")
print(json.dumps({"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime}))
PY
  rm -rf "$dir"
  echo "$label: $(json "$OUT/$label.json" wall_s) s wall, $(json "$OUT/$label.json" cpu_s) CPU-s" >&2
}

echo "== A. our server (--workers 1) against plain ffmpeg, ${LENGTH} s 1080p30, $RUNS runs each" >&2
for i in $(seq "$RUNS"); do
  if (( i % 2 == 1 )); then
    run_ours "ours-$i" --workers 1
    [[ -s $OUT/transcoder.args ]] || { echo "the transcode's command line was not seen (is its ffmpeg a child of the server?)" >&2; exit 1; }
    run_plain "plain-$i"
  else
    run_plain "plain-$i"; run_ours "ours-$i" --workers 1
  fi
done

echo "== B. two workers, renditions split over two jobs, $RUNS runs" >&2
for i in $(seq "$RUNS"); do run_ours "parallel-$i" --workers 2 --vod-rendition-jobs 2; done

# run_upload LABEL: the upload of BIG through one path (put|tus), on a server that processes
# nothing; writes LABEL.json.
run_upload() {
  local label=$1 path=$2
  start_server "$label" --workers 0
  local id rss0 t; id=$(create_video "$label")
  rss0=$(awk '/^VmRSS:/ {print $2}' "/proc/$FC_PID/status")
  # 5 resets the peak RSS (VmHWM) to the current RSS (proc(5), clear_refs).
  echo 5 2>/dev/null > "/proc/$FC_PID/clear_refs" || echo "# clear_refs refused: the peak includes the server's start-up" >&2
  if [[ $path == put ]]; then
    t=$(put_upload "$label" "$BIG")
  else
    local t0 t1; t0=$(date +%s.%N)
    node "$ROOT/tests/vod/tus-upload.mjs" "$BIG" "$(json "$OUT/$label-created.json" tus.endpoint)" \
      "$(json "$OUT/$label-created.json" tus.metadata.video)" "$(json "$OUT/$label-created.json" tus.metadata.token)" \
      --chunk-size $((64 << 20)) > "$OUT/$label-upload.txt"
    t1=$(date +%s.%N); t=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
  fi
  local hwm; hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$FC_PID/status")
  api GET "/api/v1/videos/$id" > "$OUT/$label-video.json"
  stop_server
  python3 - "$t" "$UPLOAD_BYTES" "$rss0" "$hwm" "$OUT/$label-video.json" > "$OUT/$label.json" <<'PY'
import json, sys
t, n, rss0, hwm = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
v = json.load(open(sys.argv[5]))
print(json.dumps({"wall_s": t, "mb_per_s": n / t / 1e6, "rss_before_mb": rss0 / 1024, "peak_rss_mb": hwm / 1024,
                  "growth_mb": (hwm - rss0) / 1024, "state_after": v.get("state"), "source_bytes": v.get("source_bytes")}))
PY
  echo "$label: $(json "$OUT/$label.json" mb_per_s) MB/s, RSS growth $(json "$OUT/$label.json" growth_mb) MB" >&2
}

if [[ $UPLOADS == 1 ]]; then
  echo "== C. uploads of $UPLOAD_BYTES random bytes: direct PUT and tus" >&2
  BIG="$SCRATCH/upload.bin"
  head -c "$UPLOAD_BYTES" /dev/urandom > "$BIG"
  run_upload upload-put put
  run_upload upload-tus tus
  rm -f "$BIG"
fi

if [[ $QUEUE == 1 ]]; then
  echo "== D. job queue throughput (cargo test, release)" >&2
  cargo test --release --locked -p ferrocast-jobs --manifest-path "$ROOT/Cargo.toml" --test leases throughput \
    -- --ignored --nocapture > "$OUT/queue.txt" 2>&1 || { echo "the queue benchmark failed; see $OUT/queue.txt" >&2; exit 1; }
fi

python3 - "$OUT" "$RUNS" "$UPLOAD_BYTES" "$UPLOADS" "$QUEUE" <<'PY' | tee "$OUT/summary.txt"
import json, os, re, statistics, sys
out, runs, big = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
uploads, queue = sys.argv[4] == "1", sys.argv[5] == "1"
load = lambda name: json.load(open(f"{out}/{name}.json"))
med = lambda rs, k: statistics.median(r[k] for r in rs)
each = lambda rs, k: " ".join(f"{r[k]:.1f}" for r in rs)
print(open(f"{out}/setup.txt").read().strip())
args = open(f"{out}/transcoder.args").read().split("\n")
rates = [args[i + 1] for i, a in enumerate(args) if a == "-b:v"]
sizes = re.findall(r"scale=(\d+):(\d+)", next((args[i + 1] for i, a in enumerate(args) if a == "-filter_complex"), ""))
presets = sorted({args[i + 1] for i, a in enumerate(args) if a == "-preset"})
print(f"ladder (the transcode's command line): {', '.join(f'{w}x{h} {r}' for (w, h), r in zip(sizes, rates))}; preset {'/'.join(presets)}")
ours = [load(f"ours-{i}") for i in range(1, runs + 1)]
plain = [load(f"plain-{i}") for i in range(1, runs + 1)]
par = [load(f"parallel-{i}") for i in range(1, runs + 1)]
rows = [("ours, 1 worker", ours), ("plain ffmpeg", plain), ("ours, 2 workers x 2 jobs", par)]
print(f"\n{'transcode, medians of ' + str(runs):<28}{'wall s':>9}{'CPU-s':>9}   runs (wall / CPU)")
for name, rs in rows:
    print(f"{name:<28}{med(rs, 'wall_s'):>9.1f}{med(rs, 'cpu_s'):>9.1f}   {each(rs, 'wall_s')} / {each(rs, 'cpu_s')}")
cpu_ratio = med(ours, "cpu_s") / med(plain, "cpu_s")
print(f"ratio ours / plain: CPU {cpu_ratio:.3f} (goal <= 1.05: {'met' if cpu_ratio <= 1.05 else 'NOT met'}),"
      f" wall {med(ours, 'wall_s') / med(plain, 'wall_s'):.3f}")
print(f"two workers: wall {med(par, 'wall_s'):.1f} s against {med(ours, 'wall_s'):.1f} s,"
      f" gain x{med(ours, 'wall_s') / med(par, 'wall_s'):.2f}; CPU ratio to one worker {med(par, 'cpu_s') / med(ours, 'cpu_s'):.3f}")
if uploads:
    print(f"\n{'upload of ' + f'{big / 2**30:g} GiB':<28}{'MB/s':>9}{'RSS MB':>9}{'peak MB':>9}{'growth':>9}   goal: growth < 64 MB")
    for name, label in (("direct PUT (curl)", "upload-put"), ("tus (tus-js-client)", "upload-tus")):
        r = load(label)
        verdict = "met" if r["growth_mb"] < 64 else "NOT met"
        print(f"{name:<28}{r['mb_per_s']:>9.1f}{r['rss_before_mb']:>9.1f}{r['peak_rss_mb']:>9.1f}{r['growth_mb']:>9.1f}   {verdict}"
              f" (server saw {r['source_bytes']} bytes, state {r['state_after']})")
if queue:
    lines = [l for l in open(f"{out}/queue.txt").read().splitlines() if re.search(r"/s\b|per second|throughput", l)]
    print("\nqueue throughput (ferrocast-jobs, SQLite, 4 workers; goal >= 2,000 jobs/s):")
    for l in lines or ["(no throughput line in queue.txt)"]:
        print(f"  {l.strip()}")
PY
echo "# summary: $OUT/summary.txt" >&2
