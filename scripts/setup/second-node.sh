#!/usr/bin/env bash
# A second node, "node2", on this same machine, for development and tests of tasks across nodes:
# its own dockerd and its own libvirt (the qemu:///session daemon of a dedicated user).
# Idempotent: starts and creates only what is missing. Prints the node's libvirt URI last.
#   bash scripts/setup/second-node.sh
# Registering the node is `make second-node`; its worker: PANEL_NODE_NAME=node2 manage.py nodeworker.
set -euo pipefail

NODE_USER=panelnode2
STATE=/var/lib/panel-node2
RUN=/var/run/panel-node2
LOG_DIR=/var/log/panel
BRIDGE=panelbr2
BRIDGE_ADDRESS=10.222.0.1/24
DOCKER_HOST_NODE2=unix://$RUN/docker.sock
TEMPLATE_IMAGE=panel-templates/busybox:latest
TEMPLATE_DIR=/var/lib/panel/templates

mkdir -p "$STATE" "$RUN"
# shellcheck source=scripts/setup/lib.sh
source "$(dirname "$0")/lib.sh"

docker2() { docker -H "$DOCKER_HOST_NODE2" "$@"; }

start_docker() {
    # Its own bridge: a second daemon left on the default bridge deletes docker0 under the first one.
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link add "$BRIDGE" type bridge
    fi
    if ! ip -4 addr show dev "$BRIDGE" | grep -qF "${BRIDGE_ADDRESS%/*}/"; then
        ip addr add "$BRIDGE_ADDRESS" dev "$BRIDGE"
    fi
    ip link set "$BRIDGE" up
    docker2 version >/dev/null 2>&1 && return
    # --iptables=false: the first daemon owns the NAT rules; node2 must not rewrite them.
    # setsid + nohup: the daemon must outlive the make process (and its terminal) that started it.
    setsid nohup dockerd \
        --host "$DOCKER_HOST_NODE2" \
        --data-root "$STATE/docker" \
        --exec-root "$RUN/exec" \
        --pidfile "$RUN/docker.pid" \
        --bridge "$BRIDGE" \
        --iptables=false --ip6tables=false \
        >>"$LOG_DIR/dockerd-node2.log" 2>&1 </dev/null &
    wait_for "dockerd of node2" docker2 version
}

load_container_template() {
    docker2 image inspect "$TEMPLATE_IMAGE" >/dev/null 2>&1 && return
    # The same local template as node1's (built by templates.sh), moved without any registry.
    docker save "$TEMPLATE_IMAGE" | docker2 load
}

ensure_user() {
    id -u "$NODE_USER" >/dev/null 2>&1 || useradd --system --create-home --shell /usr/sbin/nologin "$NODE_USER"
}

start_libvirt() {
    local uid runtime home
    uid=$(id -u "$NODE_USER")
    runtime=/run/user/$uid
    home=$(getent passwd "$NODE_USER" | cut -d: -f6)
    # A session daemon keeps its sockets in XDG_RUNTIME_DIR, which nothing creates without systemd-logind.
    install -d -m 0700 -o "$NODE_USER" -g "$NODE_USER" "$runtime"
    # VM disks of node2: created by its daemon (storage volumes), so owned by the user its QEMU runs as.
    install -d -m 0755 -o "$NODE_USER" -g "$NODE_USER" "$STATE/images"
    # The session QEMU runs as that user: it must read the shared kernels and initramfs of the templates.
    chmod -R a+rX "$TEMPLATE_DIR"
    LIBVIRT_URI="qemu+unix:///session?socket=$runtime/libvirt/libvirt-sock"
    virsh -c "$LIBVIRT_URI" version >/dev/null 2>&1 && return
    runuser -u "$NODE_USER" -- env -i HOME="$home" USER="$NODE_USER" XDG_RUNTIME_DIR="$runtime" \
        PATH=/usr/sbin:/usr/bin:/sbin:/bin libvirtd --daemon
    wait_for "libvirtd session of $NODE_USER" virsh -c "$LIBVIRT_URI" version
}

start_docker
load_container_template
ensure_user
start_libvirt
echo "$LIBVIRT_URI"
