#!/usr/bin/env bash
# Installs what the web client's browser tests need (idempotent; run as root):
#   - Debian's chromium (the tests drive /usr/bin/chromium; no browser is downloaded by npm)
#   - tests/web/node_modules from tests/web/package-lock.json (playwright-core, pinned)
# Without them ./test.sh reports the browser tests as skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "web-deps.sh: $*" >&2; }

if [[ -x /usr/bin/chromium ]]; then
  log "chromium: already installed"
else
  sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { log "ERROR: need root (or sudo) to install chromium"; exit 1; }
    sudo=(sudo)
  fi
  log "installing chromium"
  "${sudo[@]}" apt-get update -qq >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
  log "installed chromium"
fi

command -v npm >/dev/null 2>&1 || { log "ERROR: npm is not installed"; exit 1; }
if [[ -f tests/web/node_modules/.package-lock.json ]] && cmp -s tests/web/package-lock.json tests/web/node_modules/.parley-lock; then
  log "tests/web/node_modules: up to date"
else
  log "npm ci in tests/web"
  (cd tests/web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >&2)
  cp tests/web/package-lock.json tests/web/node_modules/.parley-lock
fi
