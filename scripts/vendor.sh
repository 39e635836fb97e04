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
cp node_modules/chart.js/dist/chart.umd.min.js static/vendor/chart.umd.min.js
rm -rf static/vendor/leaflet
cp -r node_modules/leaflet/dist static/vendor/leaflet
cp node_modules/topojson-client/dist/topojson-client.min.js static/vendor/topojson-client.min.js
# The offline basemap: Natural Earth outlines (world-atlas, public domain) as TopoJSON.
mkdir -p static/vendor/basemap
cp node_modules/world-atlas/countries-50m.json node_modules/world-atlas/land-110m.json static/vendor/basemap/
# axe-core is loaded into pages by the accessibility tests only.
cp node_modules/axe-core/axe.min.js static/vendor/axe.min.js
echo "front-end libraries copied to static/vendor/"
