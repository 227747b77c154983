#!/usr/bin/env bash
# Transcoding ladder benchmark: CPU per channel against plain ffmpeg, and LL-HLS part availability
# latency per rendition.
#
#   bench/ladder.sh [--reps N] [--quick] [--no-build] [--encoder E] [--cores N]
#                   [--skip-cpu] [--skip-superfast] [--skip-latency]
#
# Input: the peer kit's standard 1080p30 6 Mbit/s file (make_media.sh; `--quick`: its first 24 s).
#
# A. CPU. `ferrocast serve` with the default ladder (720p/480p/360p, veryfast, 500 ms LL-HLS
#    parts, no HTTP clients) and `ffmpeg -re -i input.flv -c copy -f flv` publishing into it; CPU
#    is utime+stime of ferrocast and every descendant (the transcoding ffmpeg is its child), read
#    from /proc over a fixed window in the middle of the stream (from WARMUP to WARMUP+WINDOW
#    seconds after the publish starts; 15+30 s, `--quick` 8+12 s). Then plain ffmpeg alone: the
#    transcoder's exact command line (read from /proc/PID/cmdline of the running one, so scaling,
#    preset, bitrates, VBV, GOP and keyframe forcing, audio filters and encoders are the same),
#    with its input replaced by `-re -i input.flv` and each rung's FLV socket output replaced by
#    an HLS output (`-f hls`, fMP4, 2 s segments, 6 listed, to a tmpfs), measured over the same
#    window. Both are paced by -re, so CPU-seconds per wall second is CPU-seconds per media
#    second; plain ffmpeg's own progress (out_time) and our transcoder's speed gauge confirm it.
#    The two alternate (ours first in odd reps, plain first in even reps); medians over --reps.
#    Printed: CPU-s per media second of each, the ratio (goal <= 1.05), and channels per machine
#    in real time = cores / (our CPU-s per media second). Then once more each with every rung at
#    preset superfast (a config file with the default rungs and `preset = "superfast"`).
#
# B. Part availability latency: from the last frame of a part being received by ingest to the
#    part being listed in a blocking playlist response, per rendition (goal: median <= 50 ms for
#    the source, <= 150 ms for the transcoded renditions). `part-latency` (bench/load) is an RTMP
#    relay between the publisher and the server that stamps every audio and video message when
#    its last byte has been forwarded, plus one keep-alive client per rendition following the
#    live edge with blocking reloads for the preload-hinted part (_HLS_msn/_HLS_part). Every part
#    is fetched: its pictures' presentation times name the source frames it carries (the
#    packager and the rungs keep the source's timeline), and the latest-received of them (or the
#    source audio frame nearest its last audio sample, if later) is its "last frame". Latency =
#    response read - that frame forwarded, one clock. Parts whose last frame came in the first
#    10 s (the transcoder's start-up) and the stream's final part are left out. The server's own
#    histogram (ferrocast_part_publish_latency_seconds: the source only, from the packager's
#    receipt of the frame) is printed beside it. One run per rep, after the CPU runs, so the
#    clients never weigh on the CPU figures.
#
# Raw results (per-run JSON and logs, the transcoder and plain command lines, /metrics) and
# summary.txt go to bench/results/DATE-ladder/. The figures are only meaningful on a quiet
# machine: everything here shares its cores.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${FERROCAST_PEERS:-$ROOT/../shared/peers}
REPS=3; QUICK=0; BUILD=1; ENCODER=""; CORES=$(nproc); CPU=1; SUPERFAST=1; LATENCY=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --reps) REPS=${2:?}; shift ;;
    --quick) QUICK=1; REPS=1 ;;
    --no-build) BUILD=0 ;;
    --encoder) ENCODER=${2:?}; shift ;;
    --cores) CORES=${2:?}; shift ;;
    --skip-cpu) CPU=0 ;;
    --skip-superfast) SUPERFAST=0 ;;
    --skip-latency) LATENCY=0 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ -d $PEERS ]] || { echo "peer kit not found at $PEERS (set FERROCAST_PEERS)" >&2; exit 1; }

"$ROOT/scripts/deps.sh" bench
if [[ $BUILD == 1 ]]; then
  "$ROOT/scripts/build-web.sh" >&2
  cargo build --release --locked -p ferrocast-server -p ferrocast-load --manifest-path "$ROOT/Cargo.toml" >&2
fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
FC="$TARGET/release/ferrocast"; PROBE="$TARGET/release/part-latency"
MEDIA="$ROOT/bench/media"
"$PEERS/make_media.sh" "$MEDIA" >&2
if [[ $QUICK == 1 ]]; then
  # The full 1080p ladder on a short input: the first 24 s of the standard file.
  INPUT="$MEDIA/ladder-quick.flv"
  [[ -s $INPUT ]] || ffmpeg -hide_banner -loglevel error -nostdin -y -i "$MEDIA/input.flv" -t 24 -c copy "$INPUT"
  WARMUP=8; WINDOW=12
else
  INPUT="$MEDIA/input.flv"; WARMUP=15; WINDOW=30
fi
LAT_WARMUP=10

OUT="$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)-ladder"; mkdir -p "$OUT"
echo "# results in $OUT" >&2
HTTP=127.0.0.1:18096; RTMP=127.0.0.1:19396; RELAY=127.0.0.1:19397
for port in 18096 19396 19397; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "port $port is in use" >&2; exit 1; fi
done
# HLS output of plain ffmpeg: a tmpfs when there is one (ours never touches the disk).
SCRATCH_BASE=/tmp; [[ -d /dev/shm && -w /dev/shm ]] && SCRATCH_BASE=/dev/shm
SCRATCH=$(mktemp -d "$SCRATCH_BASE/ferrocast-ladder.XXXXXX")

PIDS=()      # every process this script started and has not stopped yet
DATA=""
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -n $DATA ]] && rm -rf "$DATA"
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
# forget, stop, cpu_sample.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

{
  echo "date: $(date -Is)"
  echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (working tree modified)')"
  echo "input: $INPUT"
  ffprobe -v error -show_entries format=duration:stream=codec_name,width,height,r_frame_rate,bit_rate -of compact "$INPUT"
  echo "ffmpeg: $(ffmpeg -version | head -1)"
  echo "cores: $CORES ($(nproc) online); window: ${WARMUP}s warm-up + ${WINDOW}s measured; reps: $REPS"
} > "$OUT/setup.txt"


start_server() { # LOG [serve options...]: starts ferrocast with a fresh data dir; sets FC_PID, KEY
  local log=$1; shift
  DATA=$(mktemp -d)
  local enc=(); [[ -n $ENCODER ]] && enc=(--encoder "$ENCODER")
  "$FC" serve --http "$HTTP" --rtmp "$RTMP" --data-dir "$DATA" --log-format json "${enc[@]}" "$@" 2> "$log" &
  FC_PID=$!; PIDS+=("$FC_PID")
  local i
  for i in $(seq 100); do curl -sf "http://$HTTP/readyz" >/dev/null && break; sleep 0.1; done
  KEY=$("$FC" channel --url "http://$HTTP" --data-dir "$DATA" create bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["stream_key"])')
}
stop_server() { stop "$FC_PID"; rm -rf "$DATA"; DATA=""; }

# run_ours LABEL [serve options...]: one channel through ferrocast; writes LABEL.json and the
# transcoder's command line to LABEL-transcoder.args (one argument per line).
run_ours() {
  local label=$1; shift
  start_server "$OUT/$label-server.log" "$@"
  ffmpeg -hide_banner -loglevel error -nostdin -re -i "$INPUT" -c copy -f flv "rtmp://$RTMP/live/$KEY" &
  local pub=$! t0; PIDS+=("$pub"); t0=$(date +%s.%N)
  sleep "$WARMUP"
  local ff; ff=$(pgrep -P "$FC_PID" -x ffmpeg | head -1 || true)
  [[ -n $ff ]] || { echo "no transcoder running under ferrocast ($label); see $OUT/$label-server.log" >&2; exit 1; }
  tr '\0' '\n' < "/proc/$ff/cmdline" | tail -n +2 > "$OUT/$label-transcoder.args"
  local a b load; load=$(cut -d' ' -f1 /proc/loadavg)
  a=$(cpu_sample "$FC_PID"); sleep "$WINDOW"; b=$(cpu_sample "$FC_PID")
  local ff_after; ff_after=$(pgrep -P "$FC_PID" -x ffmpeg | head -1 || true)
  curl -sf "http://$HTTP/metrics" > "$OUT/$label-metrics.txt" || true
  stop "$pub"; stop_server
  python3 - "$a" "$b" "$OUT/$label-metrics.txt" "$ff" "$ff_after" "$load" > "$OUT/$label.json" <<'PY'
import json, re, sys
(w0, c0), (w1, c1) = (map(float, s.split()) for s in sys.argv[1:3])
m = open(sys.argv[3]).read()
def series(name):
    return {l.group(1): float(l.group(2)) for l in re.finditer(rf'^{name}\{{[^}}]*rendition="([^"]+)"[^}}]*\}} (\S+)', m, re.M)}
def total(name):
    return sum(float(x) for x in re.findall(rf"^{name}(?:\{{[^}}]*\}})? (\S+)", m, re.M))
enc = re.search(r'ferrocast_transcoder_encoder_info\{encoder="([^"]+)"\} 1', m)
out = {
    "wall_s": w1 - w0, "cpu_s": c1 - c0, "cpu_per_media_s": (c1 - c0) / (w1 - w0),
    "encoder": enc.group(1) if enc else None,
    "transcoder_speed": series("ferrocast_transcoder_speed"),
    "shed_rungs": total("ferrocast_transcoder_shed_rungs_total"),
    "restarts": total("ferrocast_transcoder_restarts_total"),
    "transcoder_pid_changed": sys.argv[4] != sys.argv[5],
    "loadavg_1m_at_start": float(sys.argv[6]),
}
w = []
if out["shed_rungs"] or out["restarts"] or out["transcoder_pid_changed"]:
    w.append("the transcoder shed a rung or restarted: not the full ladder for the whole window")
if any(0 < v < 0.97 for v in out["transcoder_speed"].values()):   # 0: a shed rung
    w.append(f"transcoder slower than real time: {out['transcoder_speed']}")
out["warnings"] = w
print(json.dumps(out))
PY
  echo "$label: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.3f CPU-s per media second" % d["cpu_per_media_s"], *d["warnings"])' "$OUT/$label.json")" >&2
}

# plain_args ARGS_FILE HLS_DIR: the transcoder's arguments with the input read from the file
# at real time and each rung written as HLS instead of FLV to a socket.
plain_args() {
  python3 - "$1" "$INPUT" "$2" <<'PY'
import sys
args = open(sys.argv[1]).read().split("\n")
if args and args[-1] == "":
    args.pop()
inp, hls = sys.argv[2], sys.argv[3]
out, i, rung, seen_input = [], 0, 0, False
while i < len(args):
    a = args[i]
    nxt = args[i + 1] if i + 1 < len(args) else None
    if a == "-protocol_whitelist" or a in ("-flvflags", "-flush_packets"):
        i += 2; continue                         # socket/FLV-specific: not needed for files
    if a == "-f" and not seen_input and nxt == "flv":
        out += ["-re", "-f", "flv"]; i += 2; continue
    if a == "-i":
        out += ["-i", inp]; seen_input = True; i += 2; continue
    if a == "-f" and seen_input and nxt == "flv":
        i += 2; continue                         # the output format, replaced below
    if seen_input and (a.startswith("unix:") or a.startswith("pipe:") or a.startswith("file:")) and (i == 0 or args[i - 1] != "-progress"):
        d = f"{hls}/r{rung}"
        out += ["-f", "hls", "-hls_time", "2", "-hls_list_size", "6", "-hls_segment_type", "fmp4",
                "-hls_flags", "delete_segments+independent_segments",
                "-hls_fmp4_init_filename", "init.mp4", "-hls_segment_filename", f"{d}/seg%05d.m4s", f"{d}/index.m3u8"]
        rung += 1; i += 1; continue
    out.append(a); i += 1
if not seen_input or rung == 0:
    sys.exit("could not rewrite the transcoder's command line")
print("\n".join(out))
PY
}

# run_plain LABEL ARGS_FILE: plain ffmpeg encoding the same ladder to HLS; writes LABEL.json.
run_plain() {
  local label=$1 args_file=$2
  local hls="$SCRATCH/$label"
  plain_args "$args_file" "$hls" > "$OUT/$label.args"
  local n; n=$(grep -c '^-hls_time$' "$OUT/$label.args")
  local r; for r in $(seq 0 $((n - 1))); do mkdir -p "$hls/r$r"; done
  mapfile -t argv < "$OUT/$label.args"
  ffmpeg "${argv[@]}" > "$OUT/$label-progress.txt" 2> "$OUT/$label.log" &
  local ff=$!; PIDS+=("$ff")
  sleep "$WARMUP"
  local a b pa pb load; load=$(cut -d' ' -f1 /proc/loadavg)
  pa=$(grep -o '^out_time_us=[0-9]*' "$OUT/$label-progress.txt" | tail -1 | cut -d= -f2 || true)
  a=$(cpu_sample "$ff"); sleep "$WINDOW"; b=$(cpu_sample "$ff")
  pb=$(grep -o '^out_time_us=[0-9]*' "$OUT/$label-progress.txt" | tail -1 | cut -d= -f2 || true)
  kill -0 "$ff" 2>/dev/null || { echo "plain ffmpeg ended early; see $OUT/$label.log" >&2; exit 1; }
  stop "$ff"; rm -rf "$hls"
  python3 - "$a" "$b" "${pa:-0}" "${pb:-0}" "$load" > "$OUT/$label.json" <<'PY'
import json, sys
(w0, c0), (w1, c1) = (map(float, s.split()) for s in sys.argv[1:3])
media = (int(sys.argv[4]) - int(sys.argv[3])) / 1e6
out = {"wall_s": w1 - w0, "cpu_s": c1 - c0, "cpu_per_media_s": (c1 - c0) / (w1 - w0),
       "media_s_in_window": media, "speed": media / (w1 - w0), "loadavg_1m_at_start": float(sys.argv[5])}
# out_time is written once a second: a 1 s step either side is sampling, not speed.
out["warnings"] = [] if abs(media - (w1 - w0)) <= 1.5 else [f"plain ffmpeg not in real time: {media:.1f} s of media in {w1 - w0:.1f} s"]
print(json.dumps(out))
PY
  echo "$label: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.3f CPU-s per media second, speed %.2f" % (d["cpu_per_media_s"], d["speed"]), *d["warnings"])' "$OUT/$label.json")" >&2
}

if [[ $CPU == 1 ]]; then
  echo "== A. CPU per channel, default ladder, $REPS runs each, alternating" >&2
  for i in $(seq "$REPS"); do
    if (( i % 2 == 1 )); then
      run_ours "ours-$i"; run_plain "plain-$i" "$OUT/ours-$i-transcoder.args"
    else
      run_plain "plain-$i" "$OUT/ours-$((i - 1))-transcoder.args"; run_ours "ours-$i"
    fi
  done
  if [[ $SUPERFAST == 1 ]]; then
    echo "== A'. the same at preset superfast, once each" >&2
    cat > "$OUT/superfast.toml" <<'TOML'
# The default rungs (crates/ladder/src/config.rs) with preset superfast.
[ladder]
enabled = true
[[ladder.rungs]]
name = "720p"
height = 720
video_bitrate_kbps = 3000
audio_bitrate_kbps = 128
frame_rate = 30
preset = "superfast"
[[ladder.rungs]]
name = "480p"
height = 480
video_bitrate_kbps = 1400
audio_bitrate_kbps = 96
frame_rate = 30
preset = "superfast"
[[ladder.rungs]]
name = "360p"
height = 360
video_bitrate_kbps = 800
audio_bitrate_kbps = 96
frame_rate = 30
preset = "superfast"
TOML
    run_ours ours-superfast --config "$OUT/superfast.toml"
    grep -qx superfast "$OUT/ours-superfast-transcoder.args" || { echo "the superfast config did not reach the transcoder" >&2; exit 1; }
    run_plain plain-superfast "$OUT/ours-superfast-transcoder.args"
  fi
  # Do the two command lines encode the same way? Everything but input, outputs and muxer options.
  diff <(grep -vE '^(unix:|pipe:0$)' "$OUT/ours-1-transcoder.args") "$OUT/plain-1.args" > "$OUT/ours-vs-plain-args.diff" || true
fi

if [[ $LATENCY == 1 ]]; then
  echo "== B. part availability latency per rendition, $REPS runs" >&2
  for i in $(seq "$REPS"); do
    start_server "$OUT/latency-$i-server.log"
    "$PROBE" --relay "$RELAY" --rtmp "$RTMP" --server "$HTTP" --channel bench --warmup "$LAT_WARMUP" \
      --out "$OUT/latency-$i.json" > "$OUT/latency-$i.txt" 2> "$OUT/latency-$i.log" &
    probe=$!; PIDS+=("$probe")
    for _ in $(seq 50); do grep -q '^relay listening' "$OUT/latency-$i.txt" && break; sleep 0.1; done
    ffmpeg -hide_banner -loglevel error -nostdin -re -i "$INPUT" -c copy -f flv "rtmp://$RELAY/live/$KEY" \
      || { echo "publishing through the relay failed; see $OUT/latency-$i.log" >&2; exit 1; }
    wait "$probe" || { echo "part-latency failed; see $OUT/latency-$i.log" >&2; exit 1; }
    forget "$probe"
    curl -sf "http://$HTTP/metrics" > "$OUT/latency-$i-metrics.txt" || true
    stop_server
    sed 's/^/  /' "$OUT/latency-$i.txt" >&2
  done
fi

python3 - "$OUT" "$REPS" "$CORES" "$CPU" "$SUPERFAST" "$LATENCY" <<'PY' | tee "$OUT/summary.txt"
import json, math, os, re, statistics, sys
out, reps, cores = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
cpu, superfast, latency = (sys.argv[i] == "1" for i in (4, 5, 6))
def load(name):
    p = f"{out}/{name}.json"
    return json.load(open(p)) if os.path.exists(p) else None
warnings = []
print(open(f"{out}/setup.txt").read().strip())
if cpu:
    ours = [load(f"ours-{i}") for i in range(1, reps + 1)]
    plain = [load(f"plain-{i}") for i in range(1, reps + 1)]
    a = statistics.median(r["cpu_per_media_s"] for r in ours)
    b = statistics.median(r["cpu_per_media_s"] for r in plain)
    enc = {r["encoder"] for r in ours}
    def ladder(path):
        args = open(path).read().split("\n")
        sizes = re.findall(r"scale=(\d+):(\d+)", next((args[i + 1] for i, a in enumerate(args) if a == "-filter_complex"), ""))
        rates = [args[i + 1] for i, a in enumerate(args) if a == "-b:v"]
        presets = sorted({args[i + 1] for i, a in enumerate(args) if a == "-preset"})
        return ", ".join(f"{w}x{h} {r}" for (w, h), r in zip(sizes, rates)) + f"; preset {'/'.join(presets)}"
    print(f"\nA. CPU per channel, default ladder (encoder {', '.join(map(str, enc))}), {reps} alternating runs each, medians")
    print(f"ladder encoded (from the transcoder's command line): {ladder(f'{out}/ours-1-transcoder.args')}")
    runs = lambda rs: " ".join("%.3f" % r["cpu_per_media_s"] for r in rs)
    print(f"ferrocast (ingest, packaging of source and rungs, LL-HLS, its ffmpeg): {a:.3f} CPU-s per media second  (runs {runs(ours)})")
    print(f"plain ffmpeg, same ladder and settings, to HLS:                        {b:.3f} CPU-s per media second  (runs {runs(plain)})")
    shed = sum(1 for r in ours if r["shed_rungs"] or r["restarts"] or r["transcoder_pid_changed"])
    verdict = f"NOT VALID: the transcoder shed a rung or restarted in {shed} run(s)" if shed else ("met" if a / b <= 1.05 else "NOT met")
    print(f"ratio ferrocast / plain ffmpeg: {a / b:.3f}  (goal <= 1.05: {verdict})")
    print(f"channels per machine in real time ({cores:g} cores): ferrocast {cores / a:.2f} ({math.floor(cores / a)} whole)"
          f", plain ffmpeg {cores / b:.2f}")
    for r in ours + plain:
        warnings += r["warnings"]
    if superfast:
        o, p = load("ours-superfast"), load("plain-superfast")
        bad = o["shed_rungs"] or o["restarts"] or o["transcoder_pid_changed"]
        print(f"preset superfast (one run each): ferrocast {o['cpu_per_media_s']:.3f}, plain ffmpeg {p['cpu_per_media_s']:.3f} CPU-s per media second,"
              f" ratio {o['cpu_per_media_s'] / p['cpu_per_media_s']:.3f}{' (NOT VALID: a rung was shed)' if bad else ''};"
              f" channels per machine: ferrocast {cores / o['cpu_per_media_s']:.2f}, plain ffmpeg {cores / p['cpu_per_media_s']:.2f}")
        warnings += o["warnings"] + p["warnings"]
    def core(path):
        """A command line without its input and outputs: what decides the encoding."""
        args, out, i = open(path).read().split("\n"), [], 0
        pairs = {"-protocol_whitelist", "-flush_packets", "-flvflags", "-i", "-hls_time", "-hls_list_size",
                 "-hls_segment_type", "-hls_flags", "-hls_fmp4_init_filename", "-hls_segment_filename"}
        while i < len(args):
            a, n = args[i], args[i + 1] if i + 1 < len(args) else None
            if a in pairs or (a == "-f" and n in ("flv", "hls")):
                i += 2
                continue
            if a and a != "-re" and not a.startswith("unix:") and not a.endswith("index.m3u8"):
                out.append(a)
            i += 1
        return out
    for o, p in (("ours-1-transcoder.args", "plain-1.args"), ("ours-superfast-transcoder.args", "plain-superfast.args")):
        if os.path.exists(f"{out}/{o}") and os.path.exists(f"{out}/{p}"):
            same = core(f"{out}/{o}") == core(f"{out}/{p}")
            print(f"{p}: the transcoder's command line ({o}) with its input (-re -i FILE) and outputs (-f hls per rung) replaced;"
                  f" encoding options identical: {'yes' if same else 'NO (see ours-vs-plain-args.diff)'}")
            if not same:
                warnings.append(f"{p}: encoding options differ from {o}")
if latency:
    runs = [load(f"latency-{i}") for i in range(1, reps + 1)]
    names = sorted({n for r in runs for n in r["renditions"]}, key=lambda n: (n != "source", n))
    print(f"\nB. part availability latency, ingest of a part's last frame -> listed in a blocking playlist response"
          f" (client side, relay-stamped), {reps} run(s); per-run medians, then their median")
    for n in names:
        med = [r["renditions"][n]["latency_ms"]["p50"] for r in runs if n in r["renditions"] and r["renditions"][n]["latency_ms"]]
        p90 = [r["renditions"][n]["latency_ms"]["p90"] for r in runs if n in r["renditions"] and r["renditions"][n]["latency_ms"]]
        cnt = sum(r["renditions"][n]["latency_ms"]["n"] for r in runs if n in r["renditions"] and r["renditions"][n]["latency_ms"])
        if not med:
            print(f"{n}: no part measured"); warnings.append(f"{n}: no part measured"); continue
        goal = 50 if n == "source" else 150
        m = statistics.median(med)
        per_run = " ".join("%.1f" % x for x in med)
        verdict = "met" if m <= goal else "NOT met"
        print(f"{n:>8}: median {m:6.1f} ms  p90 {statistics.median(p90):6.1f} ms  ({cnt} parts; runs {per_run})  goal <= {goal} ms: {verdict}")
    pooled = [r["transcoded_pooled_latency_ms"]["p50"] for r in runs if r["transcoded_pooled_latency_ms"]]
    if pooled:
        print(f"all transcoded renditions pooled: median {statistics.median(pooled):.1f} ms")
    for i, r in enumerate(runs, 1):
        for n, v in r["renditions"].items():
            d, a = v.get("part_durations") or {}, v.get("alignment_with_source")
            if d.get("over_part_target"):
                warnings.append(f"run {i}, {n}: {d['over_part_target']} parts longer than PART-TARGET {d['part_target_s']} s (longest {d['longest_s']} s)")
            if a and a["parts_with_other_pictures"]:
                warnings.append(f"run {i}, {n}: {a['parts_with_other_pictures']} of {a['parts_checked']} parts carry pictures other than the source part with the same numbers (at most {a['most_pictures_differing']})")
        if r.get("errors"):
            warnings.append(f"run {i}: client errors {r['errors']}")
        # The server's own histogram: source rendition, from the packager's receipt of the frame.
        m = open(f"{out}/latency-{i}-metrics.txt").read() if os.path.exists(f"{out}/latency-{i}-metrics.txt") else ""
        b = sorted((math.inf if le == "+Inf" else float(le), float(c)) for le, c in
                   re.findall(r'^ferrocast_part_publish_latency_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\} (\S+)', m, re.M))
        if b and b[-1][1]:
            q = lambda p: next(le for le, c in b if c >= p * b[-1][1])
            print(f"server histogram, run {i} (source only, frame at packager -> part listed): p50 <= {q(0.5) * 1000:.0f} ms, p99 <= {q(0.99) * 1000:.0f} ms ({int(b[-1][1])} parts)")
        for k in ("shed_rungs_total", "restarts_total"):
            t = sum(float(x) for x in re.findall(rf"^ferrocast_transcoder_{k}(?:\{{[^}}]*\}})? (\S+)", m, re.M))
            if t:
                warnings.append(f"latency run {i}: transcoder {k} = {t:g}")
for w in warnings:
    print(f"warning: {w}")
PY
echo "# summary: $OUT/summary.txt" >&2
