"""The datacenter page, and /status: the read-only cluster status, public when PANEL_PUBLIC_STATUS is on
(the default).

/status shows only aggregates: nodes online of total, usage totals, guest counts by kind and state. Never a
guest's name, a node's or guest's address, or anything that acts.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import View
from django.views.generic import TemplateView

from access import permissions
from panel.views import PanelPageMixin
from tasks.models import RECENT_TASKS, Task

from .summary import cluster_status, datacenter_summary


class DatacenterView(PanelPageMixin, TemplateView):
    """Proxmox's datacenter summary: health, guest counts, resources, the nodes, the latest tasks.

    The guests themselves are in the resource tree and on the guest list: a page that stays the same size
    whatever the cluster's."""

    template_name = "cluster/datacenter.html"

    def get_context_data(self, **kwargs: object) -> dict:
        user = self.request.user
        summary = datacenter_summary(user)
        tasks = Task.objects.select_related("node", "user").visible_to(user)
        return super().get_context_data(
            summary=summary,
            nodes=summary["nodes"],
            tasks=tasks[:RECENT_TASKS],
            can_create=permissions.can_create_guests(user),
            **kwargs,
        )


class StatusAccessMixin:
    def dispatch(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not settings.PANEL_PUBLIC_STATUS and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return super().dispatch(request, *args, **kwargs)


class StatusView(StatusAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "cluster/status.html", {"status": cluster_status()})


class StatusJsonView(StatusAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return JsonResponse({"data": cluster_status()})
