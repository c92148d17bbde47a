"""The Snapshots tab of a guest's panel (guests/tabs.py): the tree, take, roll back and delete (each a task), edit
a description.

The tab itself is drawn by the guest's page (``tab_context`` gives what its template needs); its forms post to the
views here, under ``guests/<vmid>/snapshots/`` (guests/urls.py includes ``urlpatterns``), which redirect to the
task or back to the tab, or draw the tab again with the refusal (a bad name) or a confirmation. Every check is the
service's (guests/snapshots.py); the tab only leaves out what the user may not do.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.views import View

from drivers.limits import MAX_SNAPSHOT_DESCRIPTION
from panel.errors import Forbidden, Refused
from panel.views import PanelPageMixin, queue_task

from . import snapshots
from .choices import GuestKind, GuestState
from .models import Guest, Snapshot
from .views import GuestDetailView, visible_guest_or_404

TAB = "snapshots"
ACTIONS = {"rollback": "Roll back", "delete": "Delete"}


@dataclass(frozen=True)
class Row:
    """One line of the tree: a snapshot, or the present state ("NOW") under the snapshot it follows."""

    depth: int
    snapshot: Snapshot | None = None


def tree_rows(taken: list[Snapshot]) -> list[Row]:
    """The snapshots depth first, oldest first among siblings, with "NOW" under the current one (at the top
    level when there is none)."""
    children: dict[int | None, list[Snapshot]] = {}
    for snapshot in taken:
        children.setdefault(snapshot.parent_id, []).append(snapshot)
    rows: list[Row] = []

    def walk(parent: Snapshot | None, depth: int) -> None:
        for child in children.get(parent.pk if parent else None, []):
            rows.append(Row(depth, child))
            walk(child, depth + 1)
        if (parent is None and not any(s.current for s in taken)) or (parent is not None and parent.current):
            rows.append(Row(depth))

    walk(None, 0)
    return rows


def tab_url(guest: Guest) -> str:
    return reverse("guest_tab", args=[guest.vmid, TAB])


def tab_context(request: HttpRequest, guest: Guest) -> dict:
    """What templates/guests/tabs/snapshots.html needs (GUEST_TABS' context of the tab)."""
    taken = snapshots.snapshots_of(request.user, guest)
    return {
        "rows": tree_rows(taken),
        "is_vm": guest.kind == GuestKind.VM,
        "may_take": snapshots.may_snapshot(request.user, guest) and not guest.is_template,
        "may_rollback": snapshots.may_rollback(request.user, guest) and not guest.is_template,
        "may_delete": snapshots.may_snapshot(request.user, guest),
        "running": guest.shown_state in (GuestState.RUNNING, GuestState.PAUSED),
        "name_pattern": snapshots.SNAPSHOT_NAME_PATTERN,
        "max_description": MAX_SNAPSHOT_DESCRIPTION,
    }


class SnapshotTakeView(GuestDetailView):
    """POST: take a snapshot; a refusal draws the tab again with the reason beside the form."""

    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest, vmid: int, tab: str) -> HttpResponse:
        guest = self.object
        name = request.POST.get("snapname", "").strip()
        description = request.POST.get("description", "")
        vmstate = bool(request.POST.get("vmstate")) and guest.kind == GuestKind.VM
        try:
            task = snapshots.request_snapshot(request.user, guest, name, description, vmstate=vmstate)
        except Refused as exc:
            entered = {"snapname": name, "description": description, "vmstate": vmstate}
            return self.render_to_response(self.get_context_data(error=exc.message, entered=entered), status=400)
        messages.success(request, f"snapshot {name} of {guest} queued as task {task.upid}")
        return redirect(task.get_absolute_url())


class SnapshotActionView(GuestDetailView):
    """Roll back or delete: GET draws the tab with a confirmation, POST (with it) queues the task."""

    def get(self, request: HttpRequest, vmid: int, tab: str, snapname: str, action: str) -> HttpResponse:
        guest = self.object
        snapshot = self._snapshot(guest, snapname, action)
        if action == "rollback" and not snapshots.may_rollback(request.user, guest):
            raise Forbidden(f"you may not roll back {guest}")
        if action == "delete" and not snapshots.may_snapshot(request.user, guest):
            raise Forbidden(f"you may not delete snapshots of {guest}")
        return self.render_to_response(self.get_context_data(
            confirm=ACTIONS[action], confirm_action=action, confirm_snapshot=snapshot))

    def post(self, request: HttpRequest, vmid: int, tab: str, snapname: str, action: str) -> HttpResponse:
        guest = self.object
        snapshot = self._snapshot(guest, snapname, action)
        if request.POST.get("confirm") != snapshot.name:
            return redirect(reverse("guest_snapshot_action", args=[guest.vmid, snapshot.name, action]))
        if action == "rollback":
            start = bool(request.POST.get("start"))
            submit = lambda: snapshots.request_rollback(request.user, guest, snapshot.name, start=start)  # noqa: E731
        else:
            submit = lambda: snapshots.request_delete(request.user, guest, snapshot.name)  # noqa: E731
        done = {"rollback": f"rollback of {guest} to snapshot {snapshot.name}",
                "delete": f"deletion of snapshot {snapshot.name} of {guest}"}[action]
        return queue_task(request, submit, tab_url(guest), lambda task: f"{done} queued as task {task.upid}")

    def _snapshot(self, guest: Guest, snapname: str, action: str) -> Snapshot:
        if action not in ACTIONS:
            raise Http404(f"no action {action!r}")
        try:
            return snapshots.snapshot_named(self.request.user, guest, snapshots.check_name(snapname))
        except Refused as exc:
            raise Http404(exc.message) from None


class SnapshotDescriptionView(PanelPageMixin, View):
    def post(self, request: HttpRequest, vmid: int, snapname: str) -> HttpResponse:
        guest = visible_guest_or_404(request, vmid)
        try:
            snapshots.update_description(request.user, guest, snapshots.check_name(snapname),
                                         request.POST.get("description", ""))
        except Refused as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"description of snapshot {snapname} saved")
        return redirect(tab_url(guest))


urlpatterns = [
    path("take/", SnapshotTakeView.as_view(), {"tab": TAB}, name="guest_snapshot_take"),
    path("<str:snapname>/description/", SnapshotDescriptionView.as_view(), name="guest_snapshot_description"),
    path("<str:snapname>/<str:action>/", SnapshotActionView.as_view(), {"tab": TAB}, name="guest_snapshot_action"),
]
