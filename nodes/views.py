from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from access import permissions
from guests.bulk import (
    BULK_ACTIONS,
    GUEST_PRIVILEGE,
    check_may_power,
    may_act_on_node,
    request_bulk,
    request_bulk_everywhere,
    request_migrate_all,
)
from guests.choices import VMID_MAX, VMID_MIN, GuestState
from guests.forms import MigrateForm
from guests.models import Guest
from guests.services import placeable_nodes
from panel.errors import InvalidRequest, Refused
from panel.parsing import decimal_or_none
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
        targets = placeable_nodes(user).exclude(pk=node.pk)
        return {
            "node": node,
            "can_migrate_all": may_act_on_node(user, node, "migrateall") and targets.exists(),
            "can_power": may_act_on_node(user, node, "startall"),
            "current_resource": f"node/{node.name}",
        }


def pickable_guests(user, node: Node, action: str) -> list[tuple[Guest, bool]]:
    """The node's guests a bulk action may act on for ``user`` (those the service would resolve), each with
    whether the action takes it by default: "start at boot" ones to start, those that run to stop, all to move."""
    guests = Guest.objects.filter(node=node).exclude(backend_id="").visible_to(user, GUEST_PRIVILEGE[action])
    default = {"startall": lambda g: g.onboot and g.state == GuestState.STOPPED,
               "stopall": lambda g: g.state in (GuestState.RUNNING, GuestState.PAUSED)}.get(action, lambda g: True)
    return [(guest, default(guest)) for guest in guests.select_related("node").order_by("vmid")]


def picked(request: HttpRequest) -> list[int]:
    """The VMIDs ticked on a confirmation (checked again by the service: only the user's are acted on); none
    ticked on a confirmation's picker is refused (no picker: the service's default set)."""
    if request.POST.get("picker") and not request.POST.getlist("vms"):
        raise InvalidRequest("choose at least one guest")
    vmids = []
    for value in request.POST.getlist("vms"):
        vmid = decimal_or_none(value)
        if vmid is None or not VMID_MIN <= vmid <= VMID_MAX:
            raise InvalidRequest(f"'{value}' is not a VMID")
        vmids.append(int(vmid))
    return sorted(set(vmids))


class NodeBulkActionView(PanelPageMixin, View):
    """Start all / Stop all of one node (``name``) or of every node (no name); GET asks to confirm."""

    def get(self, request: HttpRequest, action: str, name: str | None = None) -> HttpResponse:
        node = self._node(name)
        label = self._label(action)
        context = {"node": node, "action": action, "label": label}
        if node is not None:
            check_may_power(request.user, node, action)
            context["guests"] = pickable_guests(request.user, node, action)
        return render(request, "nodes/bulk_confirm.html", context)

    def post(self, request: HttpRequest, action: str, name: str | None = None) -> HttpResponse:
        node = self._node(name)
        label = self._label(action)
        try:
            if node is None:
                tasks = request_bulk_everywhere(request.user, action)
            else:  # the guests picked on the confirmation, else the node's default set (resolved at submit)
                vms = picked(request)
                params = {"vms": vms, "force": True} if vms else {}
                tasks = [request_bulk(request.user, node, action, **params)]
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
    """GET picks the guests and the target; POST moves them (every guest of the node the user may migrate, if
    none is picked) to the chosen node, as one task with a child per guest."""

    def get(self, request: HttpRequest, name: str) -> HttpResponse:
        node = get_object_or_404(Node.objects.visible_to(request.user), name=name)
        check_may_power(request.user, node, "migrateall")
        form = MigrateForm(source=node, nodes=placeable_nodes(request.user))
        return render(request, "nodes/bulk_confirm.html", {
            "node": node, "action": "migrateall", "label": "Migrate all", "migrate_form": form,
            "guests": pickable_guests(request.user, node, "migrateall")})

    def post(self, request: HttpRequest, name: str) -> HttpResponse:
        node = get_object_or_404(Node.objects.visible_to(request.user), name=name)
        target = request.POST.get("target", "")
        vms = picked(request) or None
        return queue_task(request, lambda: request_migrate_all(request.user, node, target, vms=vms), node,
                          lambda task: f"migration of the guests of {node.name} to {target} queued as task "
                                       f"{task.upid}")
