#!/usr/bin/env bash
# Start, without systemd, every daemon the panel needs that is not running yet, and wait until it answers.
#   bash scripts/setup/services.sh                                  # redis, postgresql, dockerd, virtlogd + libvirtd
#   bash scripts/setup/services.sh postgres-db NAME USER PASSWORD   # the same, then a role and database
set -euo pipefail

# shellcheck source=scripts/setup/lib.sh
source "$(dirname "$0")/lib.sh"

running() {  # running NAME: is the daemon that wrote /run/NAME.pid alive? (pgrep would also see other containers' daemons)
    local pid
    pid=$(cat "/run/$1.pid" 2>/dev/null) && [ "$(ps -o comm= -p "$pid" 2>/dev/null)" = "$1" ]
}

start_redis() {
    redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && return
    # Debian's config (127.0.0.1:6379, data in /var/lib/redis), as the redis user; /run is empty after a reboot.
    [ -d /run/redis ] || install -d -o redis -g redis /run/redis
    runuser -u redis -- redis-server /etc/redis/redis.conf --daemonize yes
    wait_for redis redis-cli -h 127.0.0.1 ping
}

start_postgres() {
    local version
    version=$(pg_lsclusters -h | awk 'NR == 1 { print $1 }')  # 15 on Debian 12
    if [ -z "$version" ]; then
        echo "error: no PostgreSQL cluster; is the postgresql package installed?" >&2
        return 1
    fi
    pg_isready -q -h 127.0.0.1 && return
    pg_ctlcluster "$version" main start
    wait_for postgresql pg_isready -q -h 127.0.0.1
}

start_docker() {
    docker version >/dev/null 2>&1 && return
    # setsid + nohup: the daemon must outlive the make process (and its terminal) that started it.
    setsid nohup dockerd >>"$LOG_DIR/dockerd.log" 2>&1 </dev/null &
    wait_for dockerd docker version
}

configure_libvirt() {
    # QEMU runs as Debian ships it: as libvirt-qemu, confined by libvirt's DAC driver, which hands each VM its files
    # (disks, the template's kernel and initrd) while it runs and gives them back to their owner afterwards
    # (remembered in trusted.* xattrs, counted for files VMs share). What QEMU needs is only to reach them: the
    # storage directories and the templates are world-searchable (0755), and pytest's 0700 tmp dirs are not used.
    # An earlier version of this script appended three lines to qemu.conf making QEMU root and unconfined for every
    # VM on the host; take exactly those lines out again.
    local conf=/etc/libvirt/qemu.conf changed=0
    local -a ours=(-e 'user = "root"' -e 'group = "root"' -e 'security_driver = "none"')
    if grep -qxF "${ours[@]}" "$conf"; then
        grep -vxF "${ours[@]}" "$conf" >"$conf.panel-new" || true
        cat "$conf.panel-new" >"$conf"  # in place: the package's owner and mode stay
        rm -f "$conf.panel-new"
        changed=1
    fi
    # QEMU's tap networking needs the tun device, which minimal containers may lack.
    if [ ! -e /dev/net/tun ]; then
        mkdir -p /dev/net
        mknod -m 0666 /dev/net/tun c 10 200 || echo "warning: no /dev/net/tun; only user-mode guest networking" >&2
    fi
    # libvirtd reads qemu.conf at start only; running guests survive a libvirtd restart.
    if [ "$changed" = 1 ] && running libvirtd; then
        kill "$(cat /run/libvirtd.pid)"
        wait_for "libvirtd to stop" eval '! running libvirtd'
    fi
}

start_libvirt() {
    configure_libvirt
    # virtlogd writes the guests' serial and QEMU logs; libvirtd refuses to start guests without it.
    running virtlogd || virtlogd -d
    virsh -c qemu:///system version >/dev/null 2>&1 && return
    running libvirtd || libvirtd -d
    wait_for libvirtd virsh -c qemu:///system version
}

# The bridge the local node's VMs join (PANEL_VM_BRIDGE), like Proxmox's vmbr0. It has no address and no
# uplink: guests reach each other, and libvirt counts each VM's traffic on its tap device.
VM_BRIDGE=${PANEL_VM_BRIDGE:-panelbr0}

vm_bridge() {
    ip link show "$VM_BRIDGE" >/dev/null 2>&1 || ip link add "$VM_BRIDGE" type bridge
    ip link set "$VM_BRIDGE" up
}

postgres_db() {  # postgres_db NAME USER PASSWORD: role (allowed to create test databases) and database, if missing
    local name=$1 user=$2 password=$3
    # psql variables (:'x' literal, :"x" identifier) quote the values; they only work on stdin.
    runuser -u postgres -- psql -qX -v ON_ERROR_STOP=1 -v name="$name" -v user="$user" -v password="$password" <<'SQL'
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') AS missing_role,
       NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') AS missing_db \gset
\if :missing_role
CREATE ROLE :"user" LOGIN CREATEDB PASSWORD :'password';
\endif
\if :missing_db
CREATE DATABASE :"name" OWNER :"user";
\endif
SQL
}

start_redis
start_postgres
start_docker
start_libvirt
vm_bridge
case ${1:-} in
    "") ;;
    postgres-db) [ $# -eq 4 ] || { echo "usage: $0 postgres-db NAME USER PASSWORD" >&2; exit 2; }
                 postgres_db "$2" "$3" "$4" ;;
    *) echo "usage: $0 [postgres-db NAME USER PASSWORD]" >&2; exit 2 ;;
esac
