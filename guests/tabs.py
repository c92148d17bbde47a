"""A guest's tabs (panel/tabs.py): one line each, in the order of Proxmox's guest panel.

A tab of another module adds its line here (its context, visibility and post functions as dotted paths) and its
template under templates/guests/tabs/.
"""

from __future__ import annotations

from django.http import HttpRequest

from access import permissions
from access.models import AclEntry
from panel.tabs import Tab, TabSet
from tasks.models import RECENT_TASKS

from .forms import MigrateForm
from .models import Guest
from .services import placeable_nodes

GUEST_TABS = TabSet(
    Tab("summary", "Summary", "guests/tabs/summary.html", context="guests.tabs.summary"),
    Tab("console", "Console", "guests/tabs/console.html", context="consoles.tabs.guest_console",
        visible="consoles.tabs.may_use_guest_console"),
    Tab("hardware", "Hardware", "guests/tabs/hardware.html", context="guests.views_config.hardware_tab"),
    Tab("options", "Options", "guests/tabs/options.html", context="guests.views_config.options_tab"),
    Tab("tasks", "Task History", "guests/tabs/tasks.html", context="guests.tabs.task_history"),
    Tab("snapshots", "Snapshots", "guests/tabs/snapshots.html", context="guests.views_snapshots.tab_context"),
    Tab("permissions", "Permissions", "guests/tabs/permissions.html", context="guests.tabs.acl",
        visible="guests.tabs.may_see_permissions"),
)


def summary(request: HttpRequest, guest: Guest) -> dict:
    user = request.user
    return {
        "migrate_form": (MigrateForm(source=guest.node, nodes=placeable_nodes(user))
                         if permissions.can_act_on_guest(user, guest, "migrate") else None),
        "pool_choices": (permissions.allocatable_pools(user)
                         if permissions.can_act_on_guest(user, guest, "delete") else None),
        "rrd_url": f"/api2/json/nodes/{guest.node.name}/{guest.resource_path}/{guest.vmid}/rrddata",
        "tasks": guest.tasks.select_related("user", "node").visible_to(user)[:RECENT_TASKS],
    }


def task_history(request: HttpRequest, guest: Guest) -> dict:
    return {"tasks": guest.tasks.select_related("user", "node").visible_to(request.user).filter(parent=None)[:100]}


def may_see_permissions(user, guest: Guest) -> bool:
    """Proxmox lists the ACL entries of a path to those who may change them."""
    return permissions.has_guest_privilege(user, "Permissions.Modify", guest)


def acl(request: HttpRequest, guest: Guest) -> dict:
    entries = AclEntry.objects.filter(path=f"/vms/{guest.vmid}").select_related("role").order_by("pk")
    return {"acl_entries": entries}
