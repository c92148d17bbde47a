"""A node's tasks: the list, one task's status and log, and cancelling it."""

from __future__ import annotations

from django.db.models import Max
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from guests.choices import VMID_MAX
from tasks.choices import LOG_PAGE_MAX, TASK_PAGE_MAX
from tasks.events import task_summary
from tasks.models import Task
from tasks.services import cancel

from ..params import MAX_OFFSET, query_number, task_named
from ..responses import data

LOG_LIMIT_DEFAULT = 50


class NodeTaskListView(APIView):
    def get(self, request: Request, node: str) -> Response:
        start = query_number(request, "start", 0, MAX_OFFSET)
        limit = query_number(request, "limit", 50, TASK_PAGE_MAX)
        tasks = Task.objects.select_related("node", "user", "parent").filter(node__name=node).visible_to(request.user)
        if "vmid" in request.query_params:
            tasks = tasks.filter(vmid=query_number(request, "vmid", 0, VMID_MAX))
        return data([task_summary(t) for t in tasks[start:start + limit]], total=tasks.count())


class TaskStatusView(APIView):
    def get(self, request: Request, node: str, upid: str) -> Response:
        task = task_named(request, node, upid)
        summary = task_summary(task)
        # Proxmox says "running" or "stopped"; exitstatus tells how it ended.
        summary["status"] = "running" if task.is_active else "stopped"
        summary["panel_status"] = task.status
        return data(summary)


class TaskLogView(APIView):
    def get(self, request: Request, node: str, upid: str) -> Response:
        """Lines from ``start`` (0: the first), at most ``limit``, as [{"n": 1, "t": "..."}, ...]."""
        task = task_named(request, node, upid)
        start = query_number(request, "start", 0, MAX_OFFSET)
        limit = query_number(request, "limit", LOG_LIMIT_DEFAULT, LOG_PAGE_MAX)
        lines = task.log_lines.filter(number__gt=start).order_by("number")[:limit]
        # Lines are numbered 1, 2, ... without gaps: the last number is the total, read from the index (a count
        # would visit every row of a long log).
        total = task.log_lines.aggregate(n=Max("number"))["n"] or 0
        return data([{"n": line.number, "t": line.text} for line in lines], total=total)


class TaskView(APIView):
    def delete(self, request: Request, node: str, upid: str) -> Response:
        """Stop a task: queued ones at once, running ones at their next step."""
        cancel(request.user, task_named(request, node, upid))
        return data(None)
