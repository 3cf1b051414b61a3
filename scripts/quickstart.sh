#!/usr/bin/env bash
# Sets up berth on a fresh Debian 12 machine (as root) and runs a first container:
# installs what it needs, builds berth, starts the daemon if none answers, creates the
# offline busybox image, and runs `berth run --rm busybox echo hello from berth`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v busybox >/dev/null || ! busybox --list >/dev/null 2>&1 || [ ! -x /bin/busybox ] ||
    ! command -v nft >/dev/null; then
    apt-get update -qq
    # nftables: the daemon's NAT and published ports (one table per daemon, through `nft`)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static procps nftables >/dev/null
fi
if ! command -v cargo >/dev/null; then
    echo "quickstart: cargo is required (install Rust with rustup)" >&2
    exit 1
fi

BERTH=$(./scripts/build-release.sh)
install -m 0755 "$BERTH" /usr/local/bin/berth

if ! berth version >/dev/null 2>&1; then
    mkdir -p /run/berth /var/log
    nohup berth daemon >/var/log/berth.log 2>&1 &
    for _ in $(seq 1 100); do
        [ -S /run/berth/berth.sock ] && berth version >/dev/null 2>&1 && break
        sleep 0.1
    done
fi

if ! berth image inspect busybox:latest >/dev/null 2>&1; then
    berth image bootstrap busybox
fi
berth run --rm busybox echo hello from berth
