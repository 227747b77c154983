#!/usr/bin/env bash
# Installs what Ferrocast's demo, tests and benchmarks need on Debian 12, only when missing.
#   scripts/deps.sh [run|test|browser|moto|bench]   (default: test)
#     all      make (builds jemalloc, the allocator), node and npm (build the web app)
#     run      ffmpeg
#     test     ffmpeg, GStreamer, curl and procps (the VOD tests), and the browser kit below
#     browser  only the browser kit: chromium and tests/browser's npm packages (playwright-core,
#              hls.js, dash.js)
# node and npm are Debian's unless a node is already on PATH. The web app's own npm packages are
# installed by scripts/build-web.sh.
#     bench    ffmpeg, nginx with its RTMP module, wrk, curl, python3
#     moto     only moto's S3 server (PyPI `moto[server]`, in a venv at ~/.cache/ferrocast/moto), which
#              `test` installs too: crates/storage/tests/s3.rs runs against it
# Idempotent: a second run installs nothing and makes no network calls.
set -euo pipefail
what=${1:-test}
root=$(cd "$(dirname "$0")/.." && pwd)

# make: the allocator (jemalloc) is built from C with it.
pkgs=(make)
browser=false
moto=false
case $what in
  run) pkgs+=(ffmpeg) ;;
  test)
    pkgs+=(ffmpeg curl procps util-linux gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly)
    browser=true
    moto=true
    ;;
  browser) browser=true ;;
  moto) moto=true ;;
  bench) pkgs+=(ffmpeg nginx libnginx-mod-rtmp wrk curl python3) ;;
  *) echo "usage: $0 [run|test|browser|moto|bench]" >&2; exit 2 ;;
esac

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${pkgs[@]}"; do
  installed "$p" || missing+=("$p")
done
# A node from elsewhere (NodeSource, say) brings its own npm; Debian's packages them apart.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if $browser; then
  installed chromium || missing+=(chromium)
fi
# The S3 tests' server lives in a venv; python3 -m venv needs Debian's python3-venv.
moto_dir=$HOME/.cache/ferrocast/moto
if $moto && [[ ! -x $moto_dir/bin/moto_server ]]; then
  installed python3-venv || missing+=(python3-venv)
fi
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "# installing with apt-get: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q >&2
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

if $browser; then
  # The npm packages the browser and upload tests use, exactly as package-lock.json pins them.
  for dir in "$root/tests/browser" "$root/tests/vod"; do
    stamp=$dir/node_modules/.package-lock.json
    if [[ ! -f $stamp || $dir/package-lock.json -nt $stamp ]]; then
      echo "# installing npm packages in ${dir#"$root"/} (npm ci)" >&2
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
    fi
  done
fi

if $moto && [[ ! -x $moto_dir/bin/moto_server ]]; then
  # Found by crates/storage/tests/s3.rs at this path (or wherever FERROCAST_MOTO_SERVER points).
  echo "# installing moto's S3 server in $moto_dir (pip)" >&2
  mkdir -p "$(dirname "$moto_dir")"
  python3 -m venv "$moto_dir"
  "$moto_dir/bin/pip" install -q --disable-pip-version-check 'moto[server]==5.2.5' >&2
fi
