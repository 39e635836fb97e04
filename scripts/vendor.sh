#!/usr/bin/env bash
# Installs the front-end libraries from the npm registry (exact versions from package-lock.json)
# and copies the files the templates use into static/vendor/. Never a CDN at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null 2>&1; then
  echo "warning: npm not found; pages work without htmx but lose live updates. Install Node.js 18+ and re-run make setup." >&2
  exit 0
fi
npm ci --no-audit --no-fund --silent
mkdir -p static/vendor
cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
rm -rf static/vendor/openseadragon
cp -r node_modules/openseadragon/build/openseadragon static/vendor/openseadragon
echo "front-end libraries copied to static/vendor/"
