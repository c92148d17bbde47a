#!/usr/bin/env bash
# Build the local guest templates without any registry; skip those that exist.
#   container: Docker image panel-templates/busybox:latest (docker import of a busybox root file system)
#   VM:        /var/lib/panel/templates/vm/tiny-linux/ (Debian cloud kernel + busybox initramfs)
set -euo pipefail

TEMPLATE_DIR=${PANEL_TEMPLATE_DIR:-/var/lib/panel/templates}
IMAGE=panel-templates/busybox:latest
VM_DIR=$TEMPLATE_DIR/vm/tiny-linux
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

busybox_root() {  # busybox_root DIR: a minimal root file system of busybox applets
    local root=$1
    mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,root,var/log,mnt}
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    chroot "$root" /bin/busybox --install -s /bin
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
}

build_container_template() {
    if docker image inspect "$IMAGE" >/dev/null 2>&1; then
        return
    fi
    echo "building container template $IMAGE"
    busybox_root "$WORK/ct"
    # PID 1 must honour SIGTERM (a shell ignores it unless trapped) so that a graceful stop is quick.
    tar -C "$WORK/ct" -c . | docker import \
        --change 'LABEL panel.template=busybox' \
        --change 'LABEL panel.template.description="BusyBox userland (Debian busybox-static)"' \
        --change 'LABEL panel.template.min-memory-mib=6' \
        --change 'ENV PATH=/bin:/sbin' \
        --change 'CMD ["/bin/sh", "-c", "trap \"exit 0\" TERM INT; while :; do sleep 1 & wait $!; done"]' \
        - "$IMAGE" >/dev/null
}

kernel_package() {  # the versioned package behind linux-image-cloud-amd64
    (cd "$WORK" && apt-get download linux-image-cloud-amd64 >/dev/null 2>&1)
    dpkg-deb -f "$WORK"/linux-image-cloud-amd64_*.deb Depends | grep -o 'linux-image-[^ ]*-cloud-amd64' | head -1
}

copy_modules() {  # copy_modules KERNEL_ROOT VERSION DEST MODULE...: modules with their dependencies, in load order
    local root=$1 version=$2 dest=$3; shift 3
    local dir=$root/lib/modules/$version order=() module deps dep
    for module in "$@"; do
        deps=$(awk -v m="$module.ko" '{ sub(":", "", $1); n = split($1, p, "/"); if (p[n] == m) { for (i = NF; i > 1; i--) print $i; print $1 } }' "$dir/modules.dep")
        for dep in $deps; do
            [[ " ${order[*]} " == *" $dep "* ]] || order+=("$dep")
        done
    done
    mkdir -p "$dest/lib/modules"
    : >"$dest/lib/modules/load-order"
    for dep in "${order[@]}"; do
        cp "$dir/$dep" "$dest/lib/modules/"
        basename "$dep" >>"$dest/lib/modules/load-order"
    done
}

build_vm_template() {
    if [ -f "$VM_DIR/template.json" ] && [ -f "$VM_DIR/vmlinuz" ] && [ -f "$VM_DIR/initrd.img" ]; then
        return
    fi
    echo "building VM template in $VM_DIR"
    local package version
    package=$(kernel_package)
    version=${package#linux-image-}
    (cd "$WORK" && apt-get download "$package" >/dev/null 2>&1)
    dpkg -x "$WORK/${package}"_*.deb "$WORK/kernel"
    depmod -b "$WORK/kernel" "$version"  # the package ships no modules.dep; dpkg makes it at install

    local initrd=$WORK/initrd
    busybox_root "$initrd"
    # ACPI power button (shutdown, reboot), its input events, and virtio disks.
    copy_modules "$WORK/kernel" "$version" "$initrd" button evdev virtio_pci virtio_blk
    install -m 0755 "$HERE/tiny-linux-init" "$initrd/init"

    mkdir -p "$VM_DIR"
    (cd "$initrd" && find . | cpio -o -H newc --quiet | gzip -9) >"$WORK/initrd.img"
    install -m 0644 "$WORK/kernel/boot/vmlinuz-$version" "$VM_DIR/vmlinuz"
    install -m 0644 "$WORK/initrd.img" "$VM_DIR/initrd.img"
    cat >"$VM_DIR/template.json" <<JSON
{
  "name": "tiny-linux",
  "kind": "vm",
  "description": "Debian cloud kernel $version with a BusyBox initramfs",
  "kernel": "vmlinuz",
  "initrd": "initrd.img",
  "cmdline": "console=ttyS0 panic=-1 quiet",
  "min_memory_mib": 64
}
JSON
}

build_container_template
build_vm_template
