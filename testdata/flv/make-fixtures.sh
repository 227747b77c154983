#!/usr/bin/env bash
# Regenerates the small FLV fixtures used by ferrocast-flv and ferrocast-cmaf tests.
#
# Requires ffmpeg with libx264 and the native AAC encoder (Debian's ffmpeg 5.1 was used).
# Output is deterministic enough for the tests, which assert only on stream properties
# (sizes, codec strings, frame counts) hard-coded from what ffprobe reports for these files.
# Each file stays well under 100 KB.
set -euo pipefail
cd "$(dirname "$0")"

ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }
common_v=(-c:v libx264 -flags +bitexact -fflags +bitexact)

# 1 s of 320x240 @ 30 fps High profile with B-frames (non-zero composition times) + AAC-LC 48 kHz stereo.
ff -f lavfi -i testsrc=size=320x240:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000 \
  -t 1 "${common_v[@]}" -preset veryfast -bf 2 -g 30 -crf 35 -pix_fmt yuv420p \
  -c:a aac -ac 2 -b:a 64k -f flv av_320x240.flv

# 1918x1080: coded as 1920x1088, so the SPS carries frame cropping (right 2, bottom 8).
ff -f lavfi -i color=c=navy:size=1918x1080:rate=25 -f lavfi -i sine=frequency=220:sample_rate=44100 \
  -t 0.4 "${common_v[@]}" -preset veryfast -g 25 -crf 40 -pix_fmt yuv420p \
  -c:a aac -ac 1 -b:a 48k -f flv crop_1918x1080.flv

# Video only: High 4:4:4 Predictive (chroma_format_idc 3) with explicit JVT scaling matrices,
# at an odd 250x142 (crop units of 1 pixel in 4:4:4).
ff -f lavfi -i testsrc=size=250x142:rate=30 \
  -t 0.5 "${common_v[@]}" -preset veryfast -x264-params cqm=jvt -g 15 -crf 35 -pix_fmt yuv444p \
  -f flv video_only_444_cqm.flv

# Interlaced (frame_mbs_only_flag = 0): heights are counted in field macroblock pairs.
ff -f lavfi -i testsrc=size=352x288:rate=25 \
  -t 0.4 "${common_v[@]}" -preset veryfast -x264-params interlaced=1 -g 25 -crf 35 -pix_fmt yuv420p \
  -f flv video_only_interlaced.flv

# Audio only: AAC-LC 22.05 kHz mono.
ff -f lavfi -i sine=frequency=1000:sample_rate=22050 \
  -t 1 -c:a aac -ac 1 -b:a 32k -f flv audio_only.flv
