#!/usr/bin/env bash
# Installs the Debian packages tributary needs to build, test and demo, if any
# is missing. Idempotent and quiet: it runs apt-get update at most once, and
# only when something has to be installed. Needs root (or sudo) for that.
set -euo pipefail

PKGS=(
    build-essential pkg-config make gcc ca-certificates curl jq procps openssl
    libpq-dev libnats-dev libcjson-dev libyaml-dev libpcre2-dev
    libcurl4-openssl-dev libmicrohttpd-dev libcmocka-dev clang libclang-rt-14-dev
    postgresql-15 postgresql-client-15 nats-server
    mariadb-server mariadb-client libmariadb-dev zlib1g-dev libzstd-dev zstd
)

missing=()
for p in "${PKGS[@]}"; do
    # dpkg-query prints "install ok installed" only for packages fully set up
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "deps: missing packages (${missing[*]}) and not root; install them or run as root" >&2
        exit 1
    fi
fi

echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done" >&2
