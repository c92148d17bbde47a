#!/usr/bin/env bash
# Build the local guest templates without any registry; skip those that exist.
#   container: Docker image panel-templates/busybox:latest (docker import of a busybox root file system)
#   VM:        /var/lib/panel/templates/vm/tiny-linux/ (Debian cloud kernel + busybox initramfs)
#   ISO:       /var/lib/panel/templates/iso/tiny-linux.iso (the same on a bootable CD), offered in local storage
set -euo pipefail

TEMPLATE_DIR=${PANEL_TEMPLATE_DIR:-/var/lib/panel/templates}
IMAGE=panel-templates/busybox:latest
VM_DIR=$TEMPLATE_DIR/vm/tiny-linux
ISO_DIR=$TEMPLATE_DIR/iso
HERE=$(cd "$(dirname "$0")" && pwd)
# Guest drivers that the Debian cloud kernel builds as modules (=m in its /boot/config-*):
# ACPI power button and its input events (shutdown, reboot), virtio PCI transport, disks, network.
VM_MODULES=(button evdev virtio_pci virtio_blk virtio_net virtio_balloon)
WORK=$(mktemp -d)
chmod 0755 "$WORK"  # apt-get download runs as _apt and must reach $WORK/deb
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

# The image's metadata. PID 1 must honour SIGTERM (a shell ignores it unless trapped) so that a
# graceful `docker stop` is quick instead of waiting for the SIGKILL timeout.
CT_CHANGES=(
    'LABEL panel.template=busybox'
    'LABEL panel.template.description="BusyBox userland (Debian busybox-static)"'
    'LABEL panel.template.min-memory-mib=6'
    'ENV PATH=/bin:/sbin'
    'CMD ["/bin/sh", "-c", "trap \"exit 0\" TERM INT; while :; do sleep 1 & wait $!; done"]'
)

build_container_template() {
    # Rebuild only when the image is missing or was built from other inputs (label panel.template.build).
    local stamp old args=() change
    stamp=$({ declare -f busybox_root build_container_template; printf '%s\n' "${CT_CHANGES[@]}"; } \
        | sha256sum | cut -c1-16)
    old=$(docker image inspect -f '{{.Id}} {{index .Config.Labels "panel.template.build"}}' "$IMAGE" 2>/dev/null || true)
    [ "${old#* }" != "$stamp" ] || return 0
    echo "building container template $IMAGE"
    busybox_root "$WORK/ct"
    for change in "${CT_CHANGES[@]}" "LABEL panel.template.build=$stamp"; do
        args+=(--change "$change")
    done
    tar -C "$WORK/ct" -c . | docker import "${args[@]}" - "$IMAGE" >/dev/null
    # Drop the previous build unless containers still use it.
    [ -z "$old" ] || docker rmi "${old%% *}" >/dev/null 2>&1 || true
}

download() {  # download PACKAGE: fetch a .deb into $WORK/deb without installing it
    # apt's _apt sandbox user must be able to write there; the index may be missing on a fresh host.
    install -d -o _apt "$WORK/deb"
    apt-cache show "$1" >/dev/null 2>&1 || apt-get update -q
    (cd "$WORK/deb" && apt-get download -q "$1" >/dev/null)
}

kernel_package() {  # the versioned package behind linux-image-cloud-amd64, e.g. linux-image-6.1.0-56-cloud-amd64
    download linux-image-cloud-amd64
    dpkg-deb -f "$WORK"/deb/linux-image-cloud-amd64_*.deb Depends | grep -o 'linux-image-[^ ]*-cloud-amd64' | head -1
}

copy_modules() {  # copy_modules KERNEL_ROOT VERSION DEST MODULE...: modules with their dependencies, in load order
    local root=$1 version=$2 dest=$3; shift 3
    local dir=$root/lib/modules/$version order=() module deps dep name
    for module in "$@"; do
        # modules.dep lines are "path/mod.ko[.xz]: dep1 dep2 ..."; each dep's own deps follow it on the line.
        deps=$(awk -v m="$module" '{ sub(":", "", $1); n = split($1, p, "/"); sub(/\.ko(\.(xz|zst|gz))?$/, "", p[n])
                                     if (p[n] == m) { for (i = NF; i > 1; i--) print $i; print $1 } }' "$dir/modules.dep")
        [ -n "$deps" ] || { echo "error: module $module not in $version (built in? see /boot/config-$version)" >&2; return 1; }
        for dep in $deps; do
            [[ " ${order[*]} " == *" $dep "* ]] || order+=("$dep")
        done
    done
    mkdir -p "$dest/lib/modules"
    : >"$dest/lib/modules/load-order"
    for dep in "${order[@]}"; do
        # busybox insmod takes plain .ko files only; newer Debian kernels compress their modules.
        name=$(basename "$dep"); name=${name%.xz}; name=${name%.zst}; name=${name%.gz}
        case $dep in
            *.xz) xz -dc "$dir/$dep" ;;
            *.zst) zstd -qdc "$dir/$dep" ;;
            *.gz) gzip -dc "$dir/$dep" ;;
            *) cat "$dir/$dep" ;;
        esac >"$dest/lib/modules/$name"
        echo "$name" >>"$dest/lib/modules/load-order"
    done
}

build_vm_template() {
    # Rebuild only when the files are missing or were built from other inputs (this code, init, modules).
    local stamp
    stamp=$({ declare -f busybox_root copy_modules build_vm_template; echo "${VM_MODULES[*]}"; cat "$HERE/tiny-linux-init"; } \
        | sha256sum | cut -c1-16)
    if [ -f "$VM_DIR/vmlinuz" ] && [ -f "$VM_DIR/initrd.img" ] && [ -f "$VM_DIR/template.json" ] \
        && [ "$(cat "$VM_DIR/.build" 2>/dev/null)" = "$stamp" ]; then
        return
    fi
    echo "building VM template in $VM_DIR"
    # The kernel decompresses itself at 16 MiB into init_size (~52 MiB for 6.1 cloud): 64 MiB never boots
    # (a silent reset loop), 72 MiB does; keep some room for the guest itself.
    local package version min_memory_mib=96
    package=$(kernel_package)
    version=${package#linux-image-}
    download "$package"
    dpkg -x "$WORK/deb/${package}"_*.deb "$WORK/kernel"
    depmod -b "$WORK/kernel" "$version"  # the package ships no modules.dep; dpkg makes it at install

    local initrd=$WORK/initrd
    busybox_root "$initrd"
    copy_modules "$WORK/kernel" "$version" "$initrd" "${VM_MODULES[@]}"
    install -m 0755 "$HERE/tiny-linux-init" "$initrd/init"
    (cd "$initrd" && find . | cpio -o -H newc -R 0:0 --quiet | gzip -9) >"$WORK/initrd.img"

    # World-readable: QEMU may run as libvirt-qemu (qemu:///system default) or as a session user.
    mkdir -p "$VM_DIR"
    chmod 0755 "$TEMPLATE_DIR" "$TEMPLATE_DIR/vm" "$VM_DIR"
    install -m 0644 "$WORK/kernel/boot/vmlinuz-$version" "$VM_DIR/vmlinuz.new"
    install -m 0644 "$WORK/initrd.img" "$VM_DIR/initrd.img.new"
    cat >"$VM_DIR/template.json.new" <<JSON
{
  "name": "tiny-linux",
  "kind": "vm",
  "description": "BusyBox in an initramfs on the Debian cloud kernel $version; serial console, ACPI power button",
  "kernel": "vmlinuz",
  "initrd": "initrd.img",
  "cmdline": "console=ttyS0 panic=-1 quiet",
  "min_memory_mib": $min_memory_mib
}
JSON
    chmod 0644 "$VM_DIR/template.json.new"
    # Rename into place: guests starting meanwhile see either the old or the new files, never half.
    for file in vmlinuz initrd.img template.json; do
        mv -f "$VM_DIR/$file.new" "$VM_DIR/$file"
    done
    echo "$stamp" >"$VM_DIR/.build"
}

build_vm_iso() {
    # The VM template's kernel and initramfs on a bootable CD (GRUB, BIOS), as an image of the local storage:
    # a VM made from it boots the CD onto an empty disk, like an installer. Rebuilt with the VM template.
    local iso=$ISO_DIR/tiny-linux.iso stamp root=$WORK/iso
    stamp=$(cat "$VM_DIR/.build")
    if [ ! -f "$iso" ] || [ "$(cat "$ISO_DIR/.tiny-linux.build" 2>/dev/null)" != "$stamp" ]; then
        echo "building ISO image $iso"
        mkdir -p "$root/boot/grub" "$ISO_DIR"
        cp "$VM_DIR/vmlinuz" "$VM_DIR/initrd.img" "$root/boot/"
        cat >"$root/boot/grub/grub.cfg" <<'GRUB'
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
menuentry "tiny-linux" {
  linux /boot/vmlinuz console=ttyS0 panic=-1 quiet
  initrd /boot/initrd.img
}
GRUB
        grub-mkrescue -o "$iso.new" "$root" >/dev/null 2>&1
        chmod 0644 "$iso.new"
        mv -f "$iso.new" "$iso"
        echo "$stamp" >"$ISO_DIR/.tiny-linux.build"
    fi
    # Offered in the local storage of this node (Proxmox's template/iso) unless the admin removed or replaced it.
    local storage_iso=${PANEL_STORAGE_DIR:-/var/lib/panel/images}/template/iso
    if [ ! -e "$storage_iso/tiny-linux.iso" ] && [ ! -e "$storage_iso/.tiny-linux.offered" ]; then
        install -d "$storage_iso"
        install -m 0644 "$iso" "$storage_iso/tiny-linux.iso"
        touch "$storage_iso/.tiny-linux.offered"
    fi
}

build_container_template
build_vm_template
build_vm_iso
