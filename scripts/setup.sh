#!/usr/bin/env bash
# Installs what natnow's tests and demo need on a fresh Debian 12 machine
# (run as root). Quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: coreutils (mkfifo, seq) for the host contract tests.
DEB_PACKAGES=(coreutils)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi

# npm packages, pinned by package-lock.json; reinstalled when the lock changes
stamp=node_modules/.natnow-lock-stamp
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi
