#!/usr/bin/env bash
# Installs the Debian packages Parley's tests need that are not installed yet (idempotent; run as root).
#
#   scripts/deps.sh        -> installs what is missing, says on stderr what it did
#
# apt-get update runs only when something has to be installed. Without these packages the build
# still works and the tests that need them report themselves skipped.
set -euo pipefail

packages=(
  libvips42   # libvips.so.42: image sizes and thumbnails (src/Parley.Server/Files/Vips.cs)
  ffmpeg      # poster-frame thumbnails of videos (src/Parley.Server/Files/VideoProcessor.cs)
)

log() { echo "deps.sh: $*" >&2; }

missing=()
for package in "${packages[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)" == "install ok installed" ]]; then
    log "$package: already installed"
  else
    missing+=("$package")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  log "nothing to install"
  exit 0
fi

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { log "ERROR: need root (or sudo) to install: ${missing[*]}"; exit 1; }
  sudo=(sudo)
fi

log "installing: ${missing[*]}"
"${sudo[@]}" apt-get update -qq >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
log "installed: ${missing[*]}"
