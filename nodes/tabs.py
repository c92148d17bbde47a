"""A node's tabs (panel/tabs.py): one line each, in the order of Proxmox's node panel.

A tab of another module adds its line here (its context, visibility and post functions as dotted paths) and its
template under templates/nodes/tabs/.
"""

from __future__ import annotations

from django.http import HttpRequest

from guests.bulk import selection_actions
from panel.tabs import Tab, TabSet
from tasks.models import RECENT_TASKS

from .models import Node

NODE_TABS = TabSet(
    Tab("summary", "Summary", "nodes/tabs/summary.html", context="nodes.tabs.summary"),
    Tab("shell", "Shell", "nodes/tabs/shell.html", context="consoles.tabs.node_shell",
        visible="consoles.tabs.may_use_node_shell"),
    Tab("guests", "Guests", "nodes/tabs/guests.html", context="nodes.tabs.guests"),
    Tab("storage", "Storage", "nodes/tabs/storage.html"),
    Tab("network", "Network", "nodes/tabs/network.html"),
    Tab("tasks", "Task History", "nodes/tabs/tasks.html", context="nodes.tabs.task_history"),
)


def summary(request: HttpRequest, node: Node) -> dict:
    return {"templates": node.templates.all(),
            "tasks": node.tasks.select_related("user", "node").visible_to(request.user)[:RECENT_TASKS]}


def guests(request: HttpRequest, node: Node) -> dict:
    return {"guests": node.guests.select_related("node", "pool").visible_to(request.user).order_by("vmid"),
            "selection_actions": selection_actions(request.user, [node])}


def task_history(request: HttpRequest, node: Node) -> dict:
    return {"tasks": node.tasks.select_related("user", "node").visible_to(request.user).filter(parent=None)[:100]}
