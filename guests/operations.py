"""What a node's worker does for each guest task type."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from drivers.base import GuestDriver
from drivers.types import GuestSpec
from tasks.registry import Operation, register
from tasks.worker import TaskContext

from .inventory import refresh_guest
from .models import Guest


def _target(context: TaskContext) -> tuple[Guest, GuestDriver]:
    guest = context.guest
    if guest is None:
        raise LookupError(f"task {context.task.upid} has no guest")
    return guest, context.driver(guest.kind)


def _refresh(context: TaskContext, guest: Guest, driver: GuestDriver) -> None:
    """The state right after the action; usage comes with the next poll."""
    info = driver.get_guest(guest.backend_id, with_usage=False)
    refresh_guest(guest, info, context.node.cpus, usage=False)


@register("start", "Start")
def start(context: TaskContext) -> str:
    guest, driver = _target(context)
    context.log(f"starting {guest}")
    try:
        driver.start(guest.backend_id)
    finally:
        _refresh(context, guest, driver)
    return "OK"


@register("shutdown", "Shutdown")
def shutdown(context: TaskContext) -> str:
    guest, driver = _target(context)
    timeout = _timeout(context)
    context.log(f"shutting down {guest} (timeout {timeout:g} s)")
    try:
        driver.power_off(guest.backend_id, timeout, force=bool(context.params.get("force_stop")), progress=context.log)
    finally:
        _refresh(context, guest, driver)
    return "OK"


def _timeout(context: TaskContext) -> float:
    return float(context.params.get("timeout", settings.PANEL_SHUTDOWN_TIMEOUT))


def _power(verb: str, label: str, act: Callable[[GuestDriver, str, TaskContext], None]) -> Operation:
    """A task type that is one driver call on the guest, followed by reading its state back."""

    @register(verb, label)
    def run(context: TaskContext) -> str:
        guest, driver = _target(context)
        context.log(f"{label.lower()} {guest}")
        try:
            act(driver, guest.backend_id, context)
        finally:
            _refresh(context, guest, driver)
        return "OK"

    return run


stop = _power("stop", "Stop", lambda driver, backend_id, _: driver.stop(backend_id))
reboot = _power("reboot", "Reboot", lambda driver, backend_id, c: driver.reboot(backend_id, _timeout(c)))
suspend = _power("suspend", "Pause", lambda driver, backend_id, _: driver.suspend(backend_id))
resume = _power("resume", "Resume", lambda driver, backend_id, _: driver.resume(backend_id))


@register("create", "Create")
def create(context: TaskContext) -> str:
    guest = context.guest
    if guest is None:
        raise LookupError(f"task {context.task.upid} has no guest")
    driver = context.driver(guest.kind)
    params = context.params
    spec = GuestSpec(
        vmid=guest.vmid,
        name=guest.name,
        template=params["template"],
        vcpus=int(params["vcpus"]),
        memory_mib=int(params["memory_mib"]),
        disk_gib=int(params.get("disk_gib") or 0),
        accelerator=context.node.accelerator,
    )
    context.log(f"creating {guest} from template {spec.template}: {spec.vcpus} vCPU, {spec.memory_mib} MiB"
                + (f", {spec.disk_gib} GiB disk" if spec.disk_gib else ""))
    try:
        info = driver.create(spec)
    except Exception:
        # The driver left nothing behind; drop the placeholder row too.
        guest.delete()
        raise
    guest.backend_id = info.backend_id
    guest.save(update_fields=["backend_id"])
    refresh_guest(guest, info, context.node.cpus)
    context.log(f"created {guest.get_kind_display().lower()} {info.name} ({info.backend_id[:12]})")
    if params.get("start"):
        context.log(f"starting {guest}")
        driver.start(guest.backend_id)
        _refresh(context, guest, driver)
    return "OK"


@register("delete", "Destroy")
def delete(context: TaskContext) -> str:
    guest, driver = _target(context)
    context.log(f"destroying {guest}")
    driver.delete(guest.backend_id)
    guest.delete()
    return "OK"
