#!/usr/bin/env bash
# Browser tests drive Debian's Chromium through Playwright (Playwright's own download is not
# reachable here). Install it when missing and we may; otherwise the browser tests skip locally
# and fail under CI=true.
set -uo pipefail
for candidate in "${CHROMIUM_PATH:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then exit 0; fi
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian chromium for the browser tests (once)…"
  export DEBIAN_FRONTEND=noninteractive
  if apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; }; then
    exit 0
  fi
fi
echo "note: no Chromium found (install Debian's chromium package); browser tests will be skipped outside CI." >&2
exit 0
