#!/usr/bin/env bash
# Remakes the fixtures of crates/vod/tests (Debian's ffmpeg 5.1): ffprobe outputs of small
# generated files, ffprobe's logs for refused ones, and FLV rungs made with the arguments of
# ferrocast_vod::transcode_args (at tiny bitrates). Run from this directory.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }
allowed="mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,flv,mpegts,mpeg"
probe() { ffprobe -v error -protocol_whitelist file -format_whitelist "$allowed" -print_format json -show_format -show_streams "$@"; }

../../../../scripts/make-vod-sample.sh "$tmp/s1080.mp4" 4
ff -f lavfi -i testsrc2=size=1280x720:rate=30:duration=4 -f lavfi -i sine=frequency=440:duration=4 \
    -c:v libx264 -preset ultrafast -c:a aac -shortest "$tmp/av720.mp4"
ff -f lavfi -i testsrc2=size=640x360:rate=25:duration=3 -c:v libx264 -preset ultrafast "$tmp/vonly.mp4"
ff -f lavfi -i sine=duration=2 -c:a aac "$tmp/aonly.m4a"
ff -f lavfi -i testsrc2=size=640x360:rate=30:duration=2 -c:v libx264 -preset ultrafast "$tmp/r.mp4"
ff -i "$tmp/r.mp4" -c copy -metadata:s:v:0 rotate=90 "$tmp/rot.mov"
ff -f lavfi -i testsrc2=size=320x240:rate=60:duration=2 -f lavfi -i sine=duration=2 \
    -c:v libx264 -preset ultrafast -c:a libopus "$tmp/vp.mkv"
head -c $(($(stat -c %s "$tmp/s1080.mp4") / 2)) "$tmp/s1080.mp4" >"$tmp/trunc_faststart.mp4"
for f in s1080.mp4 av720.mp4 vonly.mp4 aonly.m4a rot.mov vp.mkv trunc_faststart.mp4; do
    probe "$tmp/$f" | sed "s|$tmp/||g" >"${f%.*}.json"
done

echo "hello, this is a text file" >"$tmp/text.mp4"
printf '#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\nfile:/etc/passwd\n#EXTINF:4.0,\nhttp://127.0.0.1:9/x.ts\n#EXT-X-ENDLIST\n' >"$tmp/hls.mp4"
head -c $(($(stat -c %s "$tmp/av720.mp4") / 2)) "$tmp/av720.mp4" >"$tmp/trunc.mp4"
for f in text hls trunc; do
    (cd "$tmp" && ! probe "$f.mp4" >/dev/null 2>"$f.err")
    sed -E 's/ @ 0x[0-9a-f]+\]/ @ 0x0]/' "$tmp/$f.err" >"$f.stderr"
done

ff -f lavfi -i testsrc2=size=320x180:rate=30:duration=9 -f lavfi -i sine=frequency=440:duration=9 \
    -c:v libx264 -preset ultrafast -c:a aac -shortest "$tmp/src9.mp4"
x264="-c:v libx264 -preset veryfast -profile:v high -g 30000 -keyint_min 30000 -sc_threshold 0 -bf 0 -forced-idr 1"
# shellcheck disable=SC2086
ff -protocol_whitelist file -format_whitelist "$allowed" -i "file:$tmp/src9.mp4" -filter_complex \
    "[0:v:0]split=2[s0][s1];[s0]scale=320:180,setsar=1,format=yuv420p[v0];[s1]scale=160:90,setsar=1,format=yuv420p[v1];[0:a:0]atrim=start=0.025,aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[aout]" \
    -map "[v0]" $x264 -b:v 60k -maxrate 60k -bufsize 120k -force_key_frames "expr:gte(t,n_forced*2)" -map_metadata -1 -f flv file:180p.flv \
    -map "[v1]" $x264 -b:v 30k -maxrate 30k -bufsize 60k -force_key_frames "expr:gte(t,n_forced*2)" -map_metadata -1 -f flv file:90p.flv \
    -map "[aout]" -c:a aac -b:a 32k -map_metadata -1 -f flv file:audio.flv
