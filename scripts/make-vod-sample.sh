#!/usr/bin/env bash
# The VOD test file: a 1080p30 test pattern (testsrc2) with a 1 kHz tone (sine), H.264 + AAC in
# MP4 with its index at the front. Idempotent: an existing OUT made with the same settings is kept.
#   scripts/make-vod-sample.sh OUT [SECONDS]   (SECONDS defaults to 60)
# SIZE=WxH makes another size (the tests use a small one where the size does not matter).
set -euo pipefail
out=${1:?usage: make-vod-sample.sh OUT [SECONDS]}
seconds=${2:-60}
size=${SIZE:-1920x1080}
case $seconds in '' | *[!0-9]*) echo "SECONDS must be a whole number" >&2; exit 2 ;; esac
stamp="$out.settings"
settings="testsrc2 $size 30fps ${seconds}s libx264 veryfast gop60 + sine 1000Hz aac 128k 48k stereo"
if [[ -s $out && -f $stamp && $(cat "$stamp") == "$settings" ]]; then
    exit 0
fi
tmp="$out.partial.mp4"
trap 'rm -f "$tmp"' EXIT
ffmpeg -hide_banner -loglevel error -nostdin -y \
    -f lavfi -i "testsrc2=size=$size:rate=30:duration=$seconds" \
    -f lavfi -i "sine=frequency=1000:sample_rate=48000:duration=$seconds" \
    -map 0:v -map 1:a \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 60 -b:v 6000k \
    -c:a aac -b:a 128k -ac 2 -ar 48000 \
    -movflags +faststart -f mp4 "$tmp"
mv -f "$tmp" "$out"
printf '%s\n' "$settings" >"$stamp"
