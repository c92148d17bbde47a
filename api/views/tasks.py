"""A node's tasks as Proxmox lists them (pve-manager's API2/Tasks.pm): the list with its filters, one task's
status and log, and stopping it; /cluster/tasks uses the same rows."""

from __future__ import annotations

import re

from django.db.models import Max, Q
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from guests.choices import VMID_MAX
from tasks.choices import ACTIVE_STATUSES, LOG_PAGE_MAX, TASK_PAGE_MAX, TaskStatus
from tasks.models import Task
from tasks.services import cancel
from tasks.upid import Upid

from ..params import MAX_OFFSET, choice, flag, optional_number, query_number, task_named, text
from ..responses import data
from ..schema import BOOLEAN, INTEGER, STRING, TASK_ROW, arr, doc, obj, param

LOG_LIMIT_DEFAULT = 50
CLUSTER_TASKS = 50
EPOCH_MAX = 2**40
TYPE_WORD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Proxmox's status types (upid_normalize_status_type) and our task states in each.
STATUS_TYPES = {
    "ok": Q(status=TaskStatus.OK),
    "error": Q(status__in=[TaskStatus.ERROR, TaskStatus.CANCELLED]),
    "warning": Q(pk__isnull=True),
    "unknown": Q(pk__isnull=True),
    "running": Q(status__in=ACTIVE_STATUSES),
}


def exit_status(task: Task) -> str:
    """Proxmox's exit status: ``OK`` or the error."""
    if task.status == TaskStatus.OK:
        return "OK"
    return task.exit_message or "unexpected status"


def task_fields(task: Task) -> dict:
    """What a UPID says of its task, as Proxmox decodes it (a token's tasks name the user and the token)."""
    try:
        upid = Upid.parse(task.upid)
    except ValueError:  # not one of ours: what the row knows
        upid = Upid(task.node.name, 0, 0, int(task.created_at.timestamp()), task.type, str(task.vmid or ""),
                    task.user_name)
    user, _, tokenid = upid.user.partition("!")
    fields = {"upid": task.upid, "node": upid.node, "pid": upid.pid, "pstart": upid.pstart,
              "starttime": upid.starttime, "type": upid.type, "id": upid.id, "user": user}
    if tokenid:
        fields["tokenid"] = tokenid
    return fields


def task_row(task: Task) -> dict:
    """A row of a task list: ``status`` is the exit status once it ended, RUNNING before."""
    row = task_fields(task)
    if task.is_active:
        row["status"] = "RUNNING"
    else:
        row["status"] = exit_status(task)
        row["endtime"] = int(task.ended_at.timestamp()) if task.ended_at else row["starttime"]
    return row


class NodeTaskListView(APIView):
    """GET /nodes/{node}/tasks: start, limit, vmid, typefilter, statusfilter, errors, source, userfilter,
    since, until; ``total`` counts every match."""

    @doc(
        "A node's tasks",
        arr(TASK_ROW),
        query=(
            param("start", {"type": "integer", "minimum": 0}),
            param("limit", {"type": "integer", "minimum": 0, "maximum": 1000}),
            param("vmid", {"type": "integer", "minimum": 100, "maximum": 999999999}),
            param("typefilter", STRING),
            param("statusfilter", STRING),
            param("userfilter", STRING),
            param("errors", BOOLEAN),
            param("source", {"type": "string", "enum": ["archive", "active", "all"]}),
            param("since", {"type": "integer", "minimum": 0}),
            param("until", {"type": "integer", "minimum": 0}),
        ),
    )
    def get(self, request: Request, node: str) -> Response:
        start = query_number(request, "start", 0, MAX_OFFSET)
        limit = query_number(request, "limit", 50, TASK_PAGE_MAX)
        source = choice(request, "source", ("archive", "active", "all"), "archive")
        tasks = Task.objects.select_related("node", "user").filter(node__name=node).visible_to(request.user)
        if source == "archive":
            tasks = tasks.exclude(status__in=ACTIVE_STATUSES)
        elif source == "active":
            tasks = tasks.filter(status__in=ACTIVE_STATUSES)
        vmid = optional_number(request, "vmid", VMID_MAX)
        if vmid is not None:
            tasks = tasks.filter(vmid=vmid)
        if typefilter := text(request, "typefilter", 64):
            if not TYPE_WORD.match(typefilter):
                raise ValidationError({"typefilter": "a task type such as qmstart or vzstop"})
            tasks = tasks.filter(upid__contains=f":{typefilter}:")
        if userfilter := text(request, "userfilter", 128):
            tasks = tasks.filter(upid__iregex=r":[^:]*" + re.escape(userfilter) + r"[^:]*:$")
        if flag(request, "errors"):
            tasks = tasks.filter(STATUS_TYPES["error"])
        elif statusfilter := text(request, "statusfilter", 128):
            wanted = Q(pk__isnull=True)
            for word in re.split(r"[,;\s]+", statusfilter.strip()):
                if word.lower() not in STATUS_TYPES:
                    raise ValidationError({"statusfilter": f"'{word[:20]}' is not one of {', '.join(STATUS_TYPES)}"})
                wanted |= STATUS_TYPES[word.lower()]
            tasks = tasks.filter(wanted)
        since = optional_number(request, "since", EPOCH_MAX)
        until = optional_number(request, "until", EPOCH_MAX)
        if since is not None:
            tasks = tasks.filter(created_at__gte=_moment(since))
        if until is not None:
            tasks = tasks.filter(created_at__lte=_moment(until))
        return data([task_row(t) for t in tasks[start:start + limit]], total=tasks.count())


def _moment(epoch: int):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(min(epoch, 253402300799), tz=UTC)


class TaskStatusView(APIView):
    @doc(
        "A task's status: running or stopped, and its exitstatus once stopped",
        obj(
            ("upid", "status", "node", "type", "user"),
            upid=STRING,
            node=STRING,
            pid=INTEGER,
            pstart=INTEGER,
            starttime=INTEGER,
            type=STRING,
            id=STRING,
            user=STRING,
            tokenid=STRING,
            status={"type": "string", "enum": ["running", "stopped"]},
            exitstatus=STRING,
        ),
    )
    def get(self, request: Request, node: str, upid: str) -> Response:
        """``status`` running or stopped; ``exitstatus`` only once stopped, OK or the error."""
        task = task_named(request, node, upid)
        status = task_fields(task)
        status["status"] = "running" if task.is_active else "stopped"
        if not task.is_active:
            status["exitstatus"] = exit_status(task)
        return data(status)


class TaskLogView(APIView):
    @doc(
        "Lines of a task's log",
        arr(obj(("n", "t"), n=INTEGER, t=STRING)),
        query=(
            param("start", {"type": "integer", "minimum": 0}),
            param("limit", {"type": "integer", "minimum": 0, "maximum": 5000}),
        ),
    )
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
    @doc("A task's endpoints", arr(obj(name=STRING)))
    def get(self, request: Request, node: str, upid: str) -> Response:
        task_named(request, node, upid)
        return data([{"name": "log"}, {"name": "status"}])

    @doc("Stop a task")
    def delete(self, request: Request, node: str, upid: str) -> Response:
        """Stop a task: queued ones at once, running ones at their next step."""
        cancel(request.user, task_named(request, node, upid))
        return data(None)
