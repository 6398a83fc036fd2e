#!/usr/bin/env bash
# Make sure the servers Packline's tests and demo run against are installed: Mosquitto and
# PostgreSQL, and Chromium for the page tests (driven by Playwright, which downloads no browser of
# its own). Installs them from Debian's packages when missing and we are root; otherwise says
# what to install. The distribution's own services are left stopped: tests start private ones.
set -euo pipefail

have_mosquitto() {
    command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]
}

# Debian keeps the server programs under /usr/lib/postgresql/<major>/bin, off PATH.
have_postgres() {
    local bin
    for bin in /usr/lib/postgresql/*/bin; do
        if [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && [ -x "$bin/postgres" ]; then
            return 0
        fi
    done
    command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 &&
        command -v postgres >/dev/null 2>&1
}

# Debian's chromium package installs /usr/bin/chromium.
have_chromium() {
    command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]
}

missing=()
have_mosquitto || missing+=(mosquitto)
have_postgres || missing+=(postgresql)
have_chromium || missing+=(chromium)

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
apt_install() {
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
# A fresh machine may have no package lists yet; fetch them only when the install needs them.
if ! apt_install 2>/dev/null; then
    apt-get update -qq
    apt_install
fi

# Debian starts the packaged broker on 1883 and a 'main' cluster on 5432; Packline runs its own
# on their own ports, so stop and disable the ones just installed (Chromium runs no service).
services=()
for package in "${missing[@]}"; do
    [ "$package" = chromium ] || services+=("$package")
done
if [ ${#services[@]} -gt 0 ] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now "${services[@]}" >/dev/null 2>&1 || true
fi
if [[ " ${missing[*]} " == *" postgresql "* ]] && command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters --no-header 2>/dev/null | while read -r version cluster _port status _rest; do
        case "$status" in
            online*) pg_ctlcluster "$version" "$cluster" stop >/dev/null 2>&1 || true ;;
        esac
    done
fi
