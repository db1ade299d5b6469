#!/usr/bin/env bash
# Installs what Parley's test suite needs and this machine lacks (idempotent; ./test.sh runs it first).
#
#   scripts/deps.sh        -> installs what is missing, says on stderr what it did; exit 1 if it could not
#
# Debian packages (apt-get update runs only when something has to be installed; services they ship are
# never started: a policy-rc.d that refuses every start is in place during the install):
#   ffmpeg       poster frames and sizes of videos (src/Parley.Server/Files/VideoProcessor.cs)
#   prometheus   for promtool, which lints GET /metrics (the Prometheus server itself is never run)
#   chromium     the web client's browser tests (tests/web, driven through playwright-core)
#   postgresql   the server binaries for the private PostgreSQL of scripts/postgres.sh
#   redis-server the cluster bus of the cluster tests (scripts/redis.sh starts a private one)
#   nginx        the load balancer in front of the cluster tests' nodes
#   python3-aiosmtpd  the SMTP server the email tests mail their codes to (run by /usr/bin/python3)
#   coturn       the TURN server the calls tests allocate relays on (scripts/coturn.sh starts a private one)
#   python3-slixmpp  the XMPP client the XMPP gateway tests drive (tests/xmpp/*.py; the SCRAM-SHA-256 tests use its SASL client)
# and tests/web/node_modules from tests/web/package-lock.json (playwright-core, pinned; no browser download).
#
# Images need nothing from the system: NetVips.Native ships its own libvips.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "deps.sh: $*" >&2; }

# package -> the file that shows what the tests need from it is there.
declare -A wanted=(
  [ffmpeg]=/usr/bin/ffmpeg
  [prometheus]=/usr/bin/promtool
  [chromium]=/usr/bin/chromium
  [postgresql]="$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V | tail -n1 || true)"
  [redis-server]=/usr/bin/redis-server
  [nginx]=/usr/sbin/nginx
  [python3-aiosmtpd]="$(ls -d /usr/lib/python3/dist-packages/aiosmtpd/__main__.py 2>/dev/null || true)"
  [python3-slixmpp]="$(ls -d /usr/lib/python3/dist-packages/slixmpp/__init__.py 2>/dev/null || true)"
  [coturn]=/usr/bin/turnserver
)

missing=()
for package in ffmpeg prometheus chromium postgresql redis-server nginx python3-aiosmtpd coturn python3-slixmpp; do
  probe="${wanted[$package]}"
  [[ -n "$probe" && -e "$probe" ]] || missing+=("$package")
done

if [[ ${#missing[@]} -gt 0 ]]; then
  sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { log "ERROR: need root (or sudo) to install: ${missing[*]}"; exit 1; }
    sudo=(sudo)
  fi

  # Refuse service starts while installing (Debian's prometheus, postgresql, redis-server and nginx would start their own
  # servers otherwise). A policy-rc.d already in place is left as it is.
  policy=/usr/sbin/policy-rc.d
  placed=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\n# placed by Parley scripts/deps.sh for the length of one apt-get install\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    placed=1
  fi
  remove_policy() { if [[ "$placed" -eq 1 ]]; then "${sudo[@]}" rm -f "$policy"; fi; }
  trap remove_policy EXIT

  log "installing with apt-get: ${missing[*]} (a minute or two the first time)"
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >&2
  log "installed: ${missing[*]}"
fi

command -v npm >/dev/null 2>&1 || { log "ERROR: npm is not installed (the browser tests need Node.js and npm)"; exit 1; }
if [[ -f tests/web/node_modules/.package-lock.json ]] && cmp -s tests/web/package-lock.json tests/web/node_modules/.parley-lock; then
  :
else
  log "npm ci in tests/web"
  (cd tests/web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >&2)
  cp tests/web/package-lock.json tests/web/node_modules/.parley-lock
fi
