"""Create and destroy: the task types that make a guest on its engine and remove it."""

from __future__ import annotations

from drivers.types import GuestSpec
from tasks.context import TaskContext
from tasks.registry import register

from ..container_options import from_params
from ..inventory import refresh_guest
from ..purge import purge
from .common import refresh, target


@register("create", "Create", ("qmcreate", "vzcreate"))
def create(context: TaskContext) -> str:
    guest, driver = target(context)
    params = context.params
    spec = GuestSpec(
        vmid=guest.vmid,
        name=guest.name,
        template=params["template"],
        vcpus=int(params["vcpus"]),
        memory_mib=int(params["memory_mib"]),
        disk_gib=int(params.get("disk_gib") or 0),
        accelerator=context.node.accelerator,
        container=from_params(params.get("container")),
        iso=params.get("iso") or "",
        network=params.get("network") or "",
    )
    origin = f"ISO image {spec.iso}" if spec.iso else f"template {spec.template}"
    context.log(f"creating {guest} from {origin}: {spec.vcpus} vCPU, {spec.memory_mib} MiB"
                + (f", {spec.disk_gib} GiB disk" if spec.disk_gib else ""))
    try:
        info = driver.create(spec)
    except Exception:
        # The driver left nothing behind; drop the placeholder row too.
        purge(guest)
        raise
    guest.backend_id = info.backend_id
    refresh_guest(guest, info, context.node.cpus, also=("backend_id",))  # one write, newer than any poll under way
    context.log(f"created {guest.get_kind_display().lower()} {info.name} ({info.backend_id[:12]})")
    if params.get("start"):
        context.log(f"starting {guest}")
        driver.start(guest.backend_id)
        refresh(context, guest, driver)
    return "OK"


@register("delete", "Destroy", ("qmdestroy", "vzdestroy"))
def delete(context: TaskContext) -> str:
    guest, driver = target(context)
    context.log(f"destroying {guest}")
    driver.delete(guest.backend_id, progress=context.log)
    purge(guest)
    return "OK"
