#!/usr/bin/env bash
# Boot the tiny-linux VM template in a throwaway libvirt domain and check what the panel relies on:
# boot marker on the serial console, virtio disk, suspend/resume, ACPI reboot and ACPI shutdown.
#   bash scripts/setup/check-vm-template.sh      (after services.sh and templates.sh)
# Software emulation (TCG) on purpose: KVM guests stall in some nested/containerised hosts.
set -euo pipefail

URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}
NAME=panel-template-check
VM_DIR=${PANEL_TEMPLATE_DIR:-/var/lib/panel/templates}/vm/tiny-linux
MARKER='panel-guest: ready'
TIMEOUT=${CHECK_TIMEOUT:-120}
MEMORY_MIB=${CHECK_MEMORY_MIB:-128}
WORK=$(mktemp -d /var/tmp/panel-check.XXXXXX)
chmod 0755 "$WORK"  # QEMU opens the disk and the serial log in here
virsh=(virsh -q -c "$URI")

remove_domain() {
    "${virsh[@]}" destroy "$NAME" >/dev/null 2>&1 || true
    "${virsh[@]}" undefine "$NAME" >/dev/null 2>&1 || true
}
trap 'remove_domain; rm -rf "$WORK"' EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
fail() { echo "FAIL: $*" >&2; echo "--- serial log:" >&2; cat "$WORK/serial.log" >&2 || true; exit 1; }

wait_until() {  # wait_until DESCRIPTION COMMAND...: poll COMMAND every 0.2 s for up to $TIMEOUT s
    local what=$1; shift
    local deadline=$((SECONDS + TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || fail "$what (after ${TIMEOUT}s)"
        sleep 0.2
    done
}
markers() { grep -c "^$MARKER" "$WORK/serial.log" 2>/dev/null || true; }
has_markers() { [ "$(markers)" -ge "$1" ]; }
state_is() { [ "$("${virsh[@]}" domstate "$NAME" 2>/dev/null)" = "$1" ]; }

for file in vmlinuz initrd.img template.json; do
    [ -r "$VM_DIR/$file" ] || { echo "missing $VM_DIR/$file; run scripts/setup/templates.sh" >&2; exit 1; }
done
cmdline=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["cmdline"])' "$VM_DIR/template.json")

remove_domain  # a previous run that was killed may have left it behind
qemu-img create -q -f qcow2 "$WORK/disk.qcow2" 1G
# The XML below is what a libvirt driver needs for this template (see the setup report).
cat >"$WORK/domain.xml" <<XML
<domain type='qemu'>
  <name>$NAME</name>
  <memory unit='MiB'>$MEMORY_MIB</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$VM_DIR/vmlinuz</kernel>
    <initrd>$VM_DIR/initrd.img</initrd>
    <cmdline>$cmdline</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$WORK/disk.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='user'><model type='virtio'/></interface>
    <serial type='pty'><log file='$WORK/serial.log' append='off'/></serial>
    <console type='pty'/>
  </devices>
</domain>
XML
"${virsh[@]}" define "$WORK/domain.xml" >/dev/null

start=$(now)
"${virsh[@]}" start "$NAME" >/dev/null
wait_until "boot marker" has_markers 1
echo "boot:     $(since "$start") s to '$MARKER'"
grep -q '^panel-guest: disks: .*vda' "$WORK/serial.log" || fail "virtio disk vda not seen by the guest"
echo "disk:     guest sees /dev/vda"

# The serial console keeps a shell: type a command into the pty and look for its output in the log.
# QEMU only reads the pty once it notices a client (it polls about once a second): stay connected.
pty=$("${virsh[@]}" ttyconsole "$NAME")
exec 3<>"$pty"
sleep 1.5
# shellcheck disable=SC2016  # the guest's shell does the arithmetic, so its output differs from the input
printf 'echo "panel-guest: $((6 * 7))"\r' >&3
wait_until "shell on the serial console" grep -q '^panel-guest: 42' "$WORK/serial.log"
exec 3>&-
echo "console:  shell answers on the serial console"

"${virsh[@]}" suspend "$NAME" >/dev/null
wait_until "paused state" state_is paused
"${virsh[@]}" resume "$NAME" >/dev/null
wait_until "running state" state_is running
echo "suspend:  paused and resumed"

start=$(now)
"${virsh[@]}" reboot "$NAME" >/dev/null
wait_until "boot marker after reboot" has_markers 2
state_is running || fail "not running after reboot"
echo "reboot:   $(since "$start") s to '$MARKER' again"

start=$(now)
"${virsh[@]}" shutdown "$NAME" >/dev/null
wait_until "shut off after ACPI shutdown" state_is "shut off"
echo "shutdown: $(since "$start") s to 'shut off'"

echo "OK: tiny-linux template boots, reboots and shuts down under $URI"
