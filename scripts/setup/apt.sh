#!/usr/bin/env bash
# Install the Debian packages the panel, its engines and its templates need; only what is missing.
set -euo pipefail

PACKAGES=(
    # engines and services
    redis-server postgresql docker.io docker-compose
    libvirt-daemon-system qemu-system-x86 qemu-utils
    # building libvirt-python and psycopg, the virtual environment
    python3-venv python3-dev gcc pkg-config libvirt-dev libpq-dev
    # guest templates: busybox for the container image and the VM's initramfs, kernel module tools
    busybox-static cpio gzip xz-utils kmod
    # the tiny-linux ISO image (GRUB for BIOS on a CD), to try a VM booted from an ISO
    grub-pc-bin grub-common xorriso mtools
    # the set-up scripts themselves (ps, and openssl for the secret key and certificates; minimal images lack them)
    procps openssl
    # browser tests, network namespaces for multi-node tests
    chromium iproute2
)

missing=()
for package in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
