from django.http import Http404
from django.shortcuts import get_object_or_404
from django.views.generic import TemplateView

from access import permissions
from guests.models import Guest
from panel.views import PanelPageMixin
from tasks.models import Task

from .models import Node

RECENT_TASKS = 15


class DatacenterView(PanelPageMixin, TemplateView):
    """Nodes with their usage, every guest the user may see, the latest tasks."""

    template_name = "nodes/datacenter.html"

    def get_context_data(self, **kwargs: object) -> dict:
        user = self.request.user
        guests = permissions.visible_guests(user, Guest.objects.select_related("node"))
        nodes = Node.objects.all() if permissions.can_see_nodes(user) else Node.objects.none()
        tasks = permissions.visible_tasks(user, Task.objects.select_related("node", "user"))
        return super().get_context_data(
            nodes=nodes,
            guests=guests,
            tasks=tasks[:RECENT_TASKS],
            can_create=permissions.can_create_guests(user),
            **kwargs,
        )


class NodeDetailView(PanelPageMixin, TemplateView):
    template_name = "nodes/node_detail.html"

    def get_context_data(self, **kwargs: object) -> dict:
        user = self.request.user
        if not permissions.can_see_nodes(user):
            raise Http404("no such node")
        node = get_object_or_404(Node, name=kwargs["name"])
        guests = permissions.visible_guests(user, node.guests.all())
        tasks = permissions.visible_tasks(user, node.tasks.select_related("user"))
        return super().get_context_data(
            node=node, guests=guests, tasks=tasks[:RECENT_TASKS], templates=node.templates.all(), **kwargs
        )
