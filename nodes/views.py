from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from access import permissions
from guests.bulk import (
    BULK_ACTIONS,
    check_may_power,
    may_act_on_node,
    request_bulk,
    request_bulk_everywhere,
    request_migrate_all,
)
from guests.forms import MigrateForm
from guests.services import placeable_nodes
from panel.errors import Refused
from panel.tabs import Tab, TabbedPageView
from panel.views import PanelPageMixin, queue_task

from .models import Node
from .tabs import NODE_TABS


class NodeDetailView(TabbedPageView):
    """A node's panel: its header with the bulk actions the user may take, and its tabs (nodes/tabs.py)."""

    template_name = "nodes/node_detail.html"
    tabs = NODE_TABS

    def get_object(self) -> Node:
        return get_object_or_404(Node.objects.visible_to(self.request.user), name=self.kwargs["name"])

    def tab_url(self, node: Node, tab: Tab, first: bool) -> str:
        return node.get_absolute_url() if first else reverse("node_tab", args=[node.name, tab.name])

    def page_context(self, node: Node) -> dict:
        user = self.request.user
        return {
            "node": node,
            "migrate_form": (MigrateForm(source=node, nodes=placeable_nodes(user))
                             if may_act_on_node(user, node, "migrateall") else None),
            "can_power": may_act_on_node(user, node, "startall"),
            "current_resource": f"node/{node.name}",
        }


class NodeBulkActionView(PanelPageMixin, View):
    """Start all / Stop all of one node (``name``) or of every node (no name); GET asks to confirm."""

    def get(self, request: HttpRequest, action: str, name: str | None = None) -> HttpResponse:
        node = self._node(name)
        label = self._label(action)
        if node is not None:
            check_may_power(request.user, node, action)
        return render(request, "nodes/bulk_confirm.html", {"node": node, "action": action, "label": label})

    def post(self, request: HttpRequest, action: str, name: str | None = None) -> HttpResponse:
        node = self._node(name)
        label = self._label(action)
        try:
            if node is None:
                tasks = request_bulk_everywhere(request.user, action)
            else:
                tasks = [request_bulk(request.user, node, action)]
        except Refused as exc:
            messages.error(request, exc.message)
            return redirect(node or "datacenter")
        if not tasks:
            messages.error(request, "no node is online")
            return redirect("datacenter")
        messages.success(request, f"{label} queued on {', '.join(t.node.name for t in tasks)}")
        return redirect(tasks[0] if len(tasks) == 1 else "task_list")

    def _node(self, name: str | None) -> Node | None:
        user = self.request.user
        if name:
            return get_object_or_404(Node.objects.visible_to(user), name=name)
        if not permissions.can_see_nodes(user):
            raise Http404("no such node")
        return None

    @staticmethod
    def _label(action: str) -> str:
        if action not in BULK_ACTIONS:
            raise Http404(f"no action {action!r}")
        return BULK_ACTIONS[action]


class NodeMigrateAllView(PanelPageMixin, View):
    """POST moves every guest of the node to the chosen node, as one task with a child per guest."""

    def post(self, request: HttpRequest, name: str) -> HttpResponse:
        node = get_object_or_404(Node.objects.visible_to(request.user), name=name)
        target = request.POST.get("target", "")
        return queue_task(request, lambda: request_migrate_all(request.user, node, target), node,
                          lambda task: f"migration of the guests of {node.name} to {target} queued as task "
                                       f"{task.upid}")
