"""The datacenter's tabs (panel/tabs.py): one line each, in the order of Proxmox's datacenter panel.

A tab of another module adds its line here (its context, visibility and post functions as dotted paths) and its
template under templates/cluster/tabs/.
"""

from __future__ import annotations

from django.http import HttpRequest

from access import services as access_services
from guests.bulk import may_act_on_node
from nodes.choices import NodeStatus
from panel.tabs import Tab, TabSet
from tasks.models import RECENT_TASKS, Task

from .resources import cluster_resources
from .summary import datacenter_summary

DATACENTER_TABS = TabSet(
    Tab("summary", "Summary", "cluster/tabs/summary.html", context="cluster.tabs.summary"),
    Tab("search", "Search", "cluster/tabs/search.html", context="cluster.tabs.search"),
    Tab("permissions", "Permissions", "cluster/tabs/permissions.html", context="cluster.tabs.access"),
    Tab("storage", "Storage", "cluster/tabs/storage.html", context="cluster.tabs.storage"),
    Tab("tasks", "Tasks", "cluster/tabs/tasks.html", context="cluster.tabs.tasks"),
)


def summary(request: HttpRequest, _obj: None) -> dict:
    user = request.user
    data = datacenter_summary(user)
    tasks = Task.objects.select_related("node", "user").visible_to(user)
    online = [node for node in data["nodes"] if node.status == NodeStatus.ONLINE]
    # The datacenter's start-all and stop-all act on every online node: offered to who may on each of them.
    can_power_all = bool(online) and all(may_act_on_node(user, node, "startall") for node in online)
    return {"summary": data, "nodes": data["nodes"], "tasks": tasks[:RECENT_TASKS], "can_power_all": can_power_all}


def search(request: HttpRequest, _obj: None) -> dict:
    return {"resources": cluster_resources(request.user), "query": request.GET.get("q", "")}


def access(request: HttpRequest, _obj: None) -> dict:
    return {"can": {what: access_services.may_manage(request.user, what) for what in access_services.MANAGE}}


def storage(request: HttpRequest, _obj: None) -> dict:
    return {"storages": cluster_resources(request.user, kind="storage")}


def tasks(request: HttpRequest, _obj: None) -> dict:
    return {"tasks": Task.objects.select_related("node", "user").visible_to(request.user).filter(parent=None)[:100]}
