from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models.functions import Now
from django.urls import reverse
from django.utils import timezone

from access import permissions
from access.identity import SYSTEM_USERID, userid, userid_of
from panel.errors import Conflict

from .choices import ACTIVE_STATUSES, STATUS_BADGES, TaskStatus
from .registry import get_task_type
from .upid import Upid, new_upid

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from guests.models import Guest
    from nodes.models import Node

RECENT_TASKS = 15  # the latest tasks a summary page shows


class TaskQuerySet(models.QuerySet):
    def visible_to(self, user: permissions.User) -> TaskQuerySet:
        """What ``user`` may see: tasks they started, of guests or nodes they may audit."""
        return self.filter(permissions.task_condition(user))

    def record(self, node: Node, type_: str, user: AbstractBaseUser | None, guest: Guest | None = None,
               params: dict | None = None, vmid: int | None = None, parent: Task | None = None,
               running: bool = False) -> Task:
        """A new queued task with its UPID; Conflict, naming the task in the way, when the guest is busy.
        ``running``: recorded as running in this process (a bulk task's child, run in its parent's worker)."""
        vmid = vmid if vmid is not None else (guest.vmid if guest else None)
        started = {}
        if running:
            from .lease import this_process

            host, pid = this_process()
            started = {"status": TaskStatus.RUNNING, "started_at": timezone.now(), "worker_host": host,
                       "worker_pid": pid, "lease_renewed_at": Now()}
        upid_type = get_task_type(type_).proxmox_name(guest.kind if guest else None)  # Proxmox's qmstart, vzstart...
        try:
            with transaction.atomic():
                return self.create(
                    upid=new_upid(node.name, upid_type, str(vmid or ""), userid_of(user)), node=node, user=user,
                    type=type_, guest=guest, vmid=vmid, params=params or {}, parent=parent, **started)
        except IntegrityError as exc:
            busy = self.filter(guest=guest, status__in=ACTIVE_STATUSES).first() if guest else None
            if busy is None:
                raise
            raise Conflict(f"{guest} is busy with task {busy.type} ({busy.get_status_display()}); "
                           "wait for it to finish") from exc


class Task(models.Model):
    """One unit of work run by a node's worker, from submission to its outcome."""

    upid = models.CharField("UPID", max_length=255, unique=True)
    node = models.ForeignKey("nodes.Node", on_delete=models.CASCADE, related_name="tasks")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    type = models.CharField(max_length=32)
    guest = models.ForeignKey(
        "guests.Guest", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    vmid = models.PositiveIntegerField(null=True, blank=True)  # kept when the guest is deleted
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.QUEUED)
    exit_message = models.TextField(blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    cancel_requested = models.BooleanField(default=False)
    # The worker process running the task, to tell a task whose worker died from one still at work.
    worker_host = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    # Renewed by that process while the task runs, on the database's clock: a task whose lease is older than
    # PANEL_TASK_LEASE is failed by any node's collector, its worker is gone (tasks/recovery.py).
    lease_renewed_at = models.DateTimeField(null=True, blank=True)
    # When its message was last handed to the broker (the database's clock); None: not yet (tasks/delivery.py).
    sent_at = models.DateTimeField(null=True, blank=True)
    # Set by an operation from the point where it stops when cancelled (a bulk task between guests, a shutdown
    # while it waits): a running task without it refuses a cancel instead of ignoring it.
    cancellable = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One mutating task at a time per guest, enforced by the database itself.
            models.UniqueConstraint(
                fields=["guest"],
                condition=models.Q(status__in=ACTIVE_STATUSES, guest__isnull=False),
                name="task_one_active_per_guest",
            )
        ]
        indexes = [models.Index(fields=["status"]), models.Index(fields=["node", "-created_at"])]

    def __str__(self) -> str:
        return self.upid

    def get_absolute_url(self) -> str:
        return reverse("task_detail", args=[self.upid])

    @property
    def proxmox_type(self) -> str:
        """Proxmox's name of the task (qmstart, vzstart, startall...), as its UPID carries it."""
        try:
            return Upid.parse(self.upid).type
        except ValueError:
            return self.type

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def can_be_cancelled(self) -> bool:
        """Whether a cancel would take effect now: a queued task at once, a running one at its next stop."""
        return self.status == TaskStatus.QUEUED or (self.status == TaskStatus.RUNNING and self.cancellable)

    @property
    def status_badge(self) -> str:
        return STATUS_BADGES.get(self.status, "muted")

    @property
    def user_name(self) -> str:
        """Proxmox-style user id; tasks started by the system run as root@pam."""
        return userid(self.user.get_username()) if self.user_id else SYSTEM_USERID

    @property
    def target(self) -> str:
        return str(self.vmid) if self.vmid else self.node.name

    @property
    def description(self) -> str:
        """What the task lists show, as Proxmox's GUI words it: "CT 101 - Start", "Start all" (a node's)."""
        try:
            label = get_task_type(self.type).label
        except LookupError:
            label = self.type
        if not self.vmid:
            return label
        kind = {"qm": "VM", "vz": "CT"}.get(self.proxmox_type[:2], "Guest")
        return f"{kind} {self.vmid} - {label}"


class TaskLogLine(models.Model):
    """A numbered line of a task's log, as the worker wrote it."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="log_lines")
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    text = models.TextField()

    class Meta:
        ordering = ["task", "number"]
        constraints = [models.UniqueConstraint(fields=["task", "number"], name="task_log_unique_number")]

    def __str__(self) -> str:
        return f"{self.number}: {self.text}"
