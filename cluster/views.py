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
from django.urls import reverse
from django.views import View

from panel.tabs import Tab, TabbedPageView

from .summary import cluster_status
from .tabs import DATACENTER_TABS


class DatacenterView(TabbedPageView):
    """Proxmox's datacenter panel: the summary (health, guest counts, resources, the nodes, the latest tasks) and
    the other tabs of cluster/tabs.py.

    The guests themselves are in the resource tree and on the guest list: a page that stays the same size
    whatever the cluster's."""

    template_name = "cluster/datacenter.html"
    tabs = DATACENTER_TABS

    def get_object(self) -> None:
        return None

    def tab_url(self, _obj: None, tab: Tab, first: bool) -> str:
        return reverse("datacenter") if first else reverse("datacenter_tab", args=[tab.name])


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
