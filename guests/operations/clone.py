"""Clone and template task types, run by the worker of the source guest's node."""

from __future__ import annotations

from cluster.events import publish_guest_changed
from drivers.types import CloneSpec
from tasks.context import TaskContext
from tasks.registry import register

from ..inventory import refresh_guest
from ..models import Guest
from ..purge import purge
from .common import refresh, target


@register("clone", "Clone", ("qmclone", "vzclone"))
def clone(context: TaskContext) -> str:
    source, driver = target(context)
    copy = Guest.objects.select_related("node").get(vmid=context.params["newid"])
    spec = CloneSpec(vmid=copy.vmid, name=copy.name, accelerator=context.node.accelerator)
    context.log(f"cloning {source} as {copy}")
    try:
        info = driver.clone(source.backend_id, spec, progress=context.log)
    except Exception:
        purge(copy)  # the driver left nothing behind; the placeholder goes too
        raise
    finally:
        refresh(context, source, driver)  # a running container was paused while its files were copied
    copy.backend_id = info.backend_id
    refresh_guest(copy, info, context.node.cpus, also=("backend_id",))
    context.log(f"created {copy} ({info.backend_id[:12]})")
    return "OK"


@register("template", "Convert to template", ("qmtemplate", "vztemplate"))
def template(context: TaskContext) -> str:
    guest, _driver = target(context)
    Guest.objects.filter(pk=guest.pk).update(is_template=True)
    publish_guest_changed(guest.node.name, guest.vmid)
    context.log(f"{guest} is now a template: it is cloned, never started")
    return "OK"
