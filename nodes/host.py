"""Figures of the host a node worker runs on (its poll sends them: nodes/poll.py)."""

from __future__ import annotations

import functools
import os
import platform
import time
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class HostFigures:
    cpus: int
    cpu_usage: float  # 0..1, since the previous call in this process
    load_average: float
    load_average_5: float
    load_average_15: float
    memory_total: int
    memory_used: int
    memory_available: int
    swap_total: int
    swap_used: int
    disk_total: int  # the file system holding the node's storage directory
    disk_used: int
    root_total: int  # the root file system
    root_used: int
    uptime: int
    kernel: str
    cpuinfo: dict  # Proxmox's cpuinfo: model, cores, sockets, cpus, mhz


@functools.cache
def cpu_info() -> dict:
    """The processor as Proxmox's /nodes/{node}/status describes it (read once: it does not change)."""
    models, sockets, mhz = [], set(), 0.0
    try:
        with open("/proc/cpuinfo") as lines:
            for line in lines:
                key, _, value = (part.strip() for part in line.partition(":"))
                if key == "model name":
                    models.append(value)
                elif key == "physical id":
                    sockets.add(value)
                elif key == "cpu MHz" and not mhz:
                    mhz = float(value or 0)
    except OSError:
        pass
    cpus = psutil.cpu_count() or 1
    return {"model": models[0] if models else platform.processor() or "unknown", "cpus": cpus,
            "cores": psutil.cpu_count(logical=False) or cpus, "sockets": max(len(sockets), 1),
            "mhz": f"{mhz:.3f}"}


def host_figures(storage_dir: str) -> HostFigures:
    memory, swap = psutil.virtual_memory(), psutil.swap_memory()
    path = storage_dir if os.path.exists(storage_dir) else "/"
    disk, root = psutil.disk_usage(path), psutil.disk_usage("/")
    load = os.getloadavg()
    return HostFigures(
        cpus=psutil.cpu_count() or 1,
        cpu_usage=psutil.cpu_percent(interval=None) / 100,
        load_average=load[0],
        load_average_5=load[1],
        load_average_15=load[2],
        memory_total=memory.total,
        memory_used=memory.total - memory.available,
        memory_available=memory.available,
        swap_total=swap.total,
        swap_used=swap.used,
        disk_total=disk.total,
        disk_used=disk.used,
        root_total=root.total,
        root_used=root.used,
        uptime=int(time.time() - psutil.boot_time()),
        kernel=f"{platform.system()} {platform.release()} {platform.version()}",
        cpuinfo=cpu_info(),
    )


def host_counters() -> dict[str, int]:
    """Cumulative network (all interfaces but loopback) and disk I/O bytes of the host."""
    net = psutil.net_io_counters(pernic=True) or {}
    disk = psutil.disk_io_counters()
    return {
        "netin": sum(c.bytes_recv for name, c in net.items() if name != "lo"),
        "netout": sum(c.bytes_sent for name, c in net.items() if name != "lo"),
        "diskread": disk.read_bytes if disk else 0,
        "diskwrite": disk.write_bytes if disk else 0,
    }


def host_interfaces() -> list[dict]:
    """The host's network interfaces but loopback, bridges first: name, type, state, MTU, addresses, ports."""
    stats = psutil.net_if_stats()
    interfaces = []
    for name, addresses in sorted(psutil.net_if_addrs().items()):
        if name == "lo" or name.startswith("veth"):  # a container's end of a pair: a port, not the host's
            continue
        sys = f"/sys/class/net/{name}"
        if os.path.isdir(f"{sys}/bridge"):
            kind = "bridge"
        elif os.path.exists(f"{sys}/tun_flags"):
            continue  # a VM's NIC on the host: a port of its bridge
        elif os.path.islink(f"{sys}/device"):
            kind = "eth"
        else:
            kind = "virtual"
        ports = sorted(os.listdir(f"{sys}/brif")) if kind == "bridge" and os.path.isdir(f"{sys}/brif") else []
        stat = stats.get(name)
        interfaces.append({
            "name": name, "type": kind, "active": bool(stat and stat.isup), "mtu": stat.mtu if stat else 0,
            "addresses": [f"{a.address.split('%')[0]}/{_prefix(a.netmask)}" if a.netmask else a.address
                          for a in addresses if a.family.name in ("AF_INET", "AF_INET6")],
            "ports": ports,
        })
    order = {"bridge": 0, "eth": 1, "virtual": 2, "tap": 3, "veth": 4}
    return sorted(interfaces, key=lambda i: (order.get(i["type"], 5), i["name"]))


def _prefix(netmask: str) -> int:
    """A netmask's prefix length (IPv4 dotted or IPv6)."""
    import ipaddress

    try:
        return ipaddress.ip_network(f"0.0.0.0/{netmask}").prefixlen if "." in netmask else \
            bin(int(ipaddress.IPv6Address(netmask))).count("1")
    except ValueError:
        return 0
