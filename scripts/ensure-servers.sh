#!/usr/bin/env bash
# Make sure the servers Packline's tests and demo run against are installed.
# Installs them from Debian's packages when missing and we are root; otherwise says what to install.
set -euo pipefail

missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "Packline needs these Debian packages: ${missing[*]}" >&2
    echo "Install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi

echo "Installing ${missing[*]} from Debian's packages..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged broker on 1883; Packline runs its own brokers on their own ports.
if command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
