#!/usr/bin/env bash
# Installs what Ferrocast's demo, tests and benchmarks need on Debian 12, only when missing.
#   scripts/deps.sh [run|test|bench]   (default: test)
# Idempotent: a second run installs nothing and makes no network calls.
set -euo pipefail
what=${1:-test}

pkgs=(ffmpeg)
case $what in
  run) ;;
  test) pkgs+=(gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly) ;;
  bench) pkgs+=(nginx libnginx-mod-rtmp wrk curl python3) ;;
  *) echo "usage: $0 [run|test|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "# installing with apt-get: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q >&2
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
