# Shared by the set-up scripts that start daemons (source it after setting LOG_DIR).

LOG_DIR=${LOG_DIR:-/var/log/panel}
mkdir -p "$LOG_DIR"
cd /  # daemons inherit the working directory; keep them (and redis dumps) out of the repository

wait_for() {  # wait_for DESCRIPTION COMMAND...: retry COMMAND for up to 60 s
    local what=$1; shift
    for _ in $(seq 1 300); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "error: $what did not come up; see $LOG_DIR and /var/log/{redis,postgresql,libvirt}" >&2
    return 1
}
