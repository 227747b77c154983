#!/usr/bin/env bash
# Builds the web app (web/, docs/WEB.md) into web/dist, which the server embeds at compile time.
#   scripts/build-web.sh [--force]
# Installs web/'s npm packages (npm ci, exactly as web/package-lock.json pins them) only when
# web/node_modules is missing or older than the lock file, and builds only when a source is newer
# than web/dist/index.html (or dist is not a build of the app). Idempotent: a second run does
# nothing and makes no network calls. Needs node >= 18 and npm (scripts/deps.sh installs them).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
web=$root/web
force=false
case ${1:-} in
  --force) force=true ;;
  "") ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "build-web.sh: $tool is missing: run scripts/deps.sh browser (or install node >= 18 and npm)" >&2
    exit 1
  fi
done
major=$(node -p 'process.versions.node.split(".")[0]')
if ((major < 18)); then
  echo "build-web.sh: node $(node --version) is too old: Vite needs node 18 or newer" >&2
  exit 1
fi

# npm writes node_modules/.package-lock.json at the end of an install: it is the stamp.
stamp=$web/node_modules/.package-lock.json
if [[ ! -f $stamp || $web/package-lock.json -nt $stamp ]]; then
  echo "# installing the web app's npm packages (npm ci in web/)" >&2
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error >&2)
  touch "$stamp"
fi

index=$web/dist/index.html
stale=$force
if [[ ! -f $index ]] || ! grep -q '/assets/' "$index"; then
  # Missing, or a placeholder rather than a Vite build.
  stale=true
elif ! $stale; then
  inputs=("$web/src" "$web/public" "$web/index.html" "$web/package.json" "$web/package-lock.json"
    "$web/vite.config.ts" "$web/tsconfig.json" "$web/scripts/compress.mjs" "$stamp")
  existing=()
  for f in "${inputs[@]}"; do [[ -e $f ]] && existing+=("$f"); done
  if [[ -n $(find "${existing[@]}" -newer "$index" -print -quit) ]]; then
    stale=true
  fi
fi

if $stale; then
  echo "# building the web app (web/dist)" >&2
  (cd "$web" && npm run --silent build >&2)
  # dist/index.html is written before the compressed copies: make it the newest file, so that
  # the next run sees the build as up to date.
  touch "$index"
fi
