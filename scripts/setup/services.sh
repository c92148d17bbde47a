#!/usr/bin/env bash
# Start, without systemd, every daemon the panel needs that is not running yet, and wait until it answers.
#   bash scripts/setup/services.sh                        # redis, postgresql, dockerd, virtlogd + libvirtd
#   bash scripts/setup/services.sh postgres-db NAME USER PASSWORD   # also make a role and database
set -euo pipefail

LOG_DIR=/var/log/panel
mkdir -p "$LOG_DIR"

wait_for() {  # wait_for DESCRIPTION COMMAND...: retry COMMAND for up to 60 s
    local what=$1; shift
    for _ in $(seq 1 120); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    echo "error: $what did not come up; see $LOG_DIR" >&2
    return 1
}

start_redis() {
    if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --logfile "$LOG_DIR/redis.log"
        wait_for redis redis-cli -h 127.0.0.1 ping
    fi
}

start_postgres() {
    local version
    version=$(pg_lsclusters -h | awk 'NR==1 {print $1}')
    if [ -z "$version" ]; then
        echo "error: no PostgreSQL cluster; is the postgresql package installed?" >&2
        return 1
    fi
    if ! pg_isready -q -h 127.0.0.1; then
        pg_ctlcluster "$version" main start
        wait_for postgresql pg_isready -q -h 127.0.0.1
    fi
}

start_docker() {
    if ! docker version >/dev/null 2>&1; then
        # setsid: the daemon must outlive the make process that started it.
        setsid dockerd >>"$LOG_DIR/dockerd.log" 2>&1 < /dev/null &
        wait_for dockerd docker version
    fi
}

configure_libvirt() {
    # Inside a container there is no AppArmor/SELinux to confine QEMU, and dropping QEMU to the
    # libvirt-qemu user would need every image and template chowned; run it as root, unconfined.
    local conf=/etc/libvirt/qemu.conf changed=0
    local -A want=([user]='"root"' [group]='"root"' [security_driver]='"none"')
    for key in "${!want[@]}"; do
        if ! grep -qx "$key = ${want[$key]}" "$conf"; then
            sed -i "/^$key = /d" "$conf"
            echo "$key = ${want[$key]}" >>"$conf"
            changed=1
        fi
    done
    if [ "$changed" = 1 ] && pgrep -x libvirtd >/dev/null; then
        pkill -x libvirtd
        wait_for "libvirtd to stop" bash -c '! pgrep -x libvirtd'
    fi
}

start_libvirt() {
    configure_libvirt
    pgrep -x virtlogd >/dev/null || virtlogd -d
    if ! virsh -c qemu:///system version >/dev/null 2>&1; then
        pgrep -x libvirtd >/dev/null || libvirtd -d
        wait_for libvirtd virsh -c qemu:///system version
    fi
}

postgres_db() {  # postgres_db NAME USER PASSWORD: idempotent role + database (the role may create test DBs)
    local name=$1 user=$2 password=$3
    if ! su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname = '$user'\"" | grep -q 1; then
        su postgres -c "psql -q -c \"CREATE ROLE \\\"$user\\\" LOGIN CREATEDB PASSWORD '$password'\""
    fi
    if ! su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname = '$name'\"" | grep -q 1; then
        su postgres -c "createdb -O '$user' '$name'"
    fi
}

start_redis
start_postgres
start_docker
start_libvirt
if [ "${1:-}" = postgres-db ]; then
    postgres_db "$2" "$3" "$4"
fi
