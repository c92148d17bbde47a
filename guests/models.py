from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from access import permissions
from access.querysets import RestrictedQuerySet

from .choices import STATE_BADGES, VMID_MAX, VMID_MIN, GuestKind, GuestState


def uptime_since(running_since: datetime | None, now: datetime) -> int:
    return max(int((now - running_since).total_seconds()), 0) if running_since else 0


def resource_path(kind: str) -> str:
    """Proxmox's name for a guest kind in paths and resource ids: qemu for VMs, lxc for containers."""
    return "qemu" if kind == GuestKind.VM else "lxc"


class GuestQuerySet(RestrictedQuerySet):
    audit_privilege = "VM.Audit"
    acl_condition = staticmethod(permissions.guest_condition)


class Guest(models.Model):
    """A VM or container, known by a cluster-unique numeric id like Proxmox's VMID."""

    vmid = models.PositiveIntegerField(
        "VMID", unique=True, validators=[MinValueValidator(VMID_MIN), MaxValueValidator(VMID_MAX)]
    )
    kind = models.CharField(max_length=2, choices=GuestKind.choices)
    node = models.ForeignKey("nodes.Node", on_delete=models.PROTECT, related_name="guests")
    # libvirt domain UUID or Docker container id; empty until the create task made the guest.
    backend_id = models.CharField(max_length=128, blank=True)
    name = models.CharField(max_length=255)
    state = models.CharField(max_length=16, choices=GuestState.choices, default=GuestState.UNKNOWN)
    template = models.CharField(max_length=128, blank=True)

    vcpus = models.FloatField(default=0)  # 0: no limit (containers)
    memory_mib = models.PositiveIntegerField(default=0)  # 0: no limit (containers)
    disk_bytes = models.BigIntegerField(default=0)

    # Usage, written by the node's worker at each poll.
    cpu_usage = models.FloatField(default=0)  # 0..1 of the guest's vCPUs
    cpu_time_ns = models.BigIntegerField(default=0)  # the last counter read, for the next rate
    memory_used = models.BigIntegerField(default=0)
    disk_used = models.BigIntegerField(null=True, blank=True)
    # When the guest started (from the engine's uptime, or when a poll first saw it up: libvirt has none).
    running_since = models.DateTimeField(null=True, blank=True)
    usage_at = models.DateTimeField(null=True, blank=True)
    # Bumped by every write of an engine reading (a poll's, a task's read-back, a creation, a migration). A poll
    # writes or removes only the rows whose revision it read before listing the engine, so it never undoes what
    # a task (or another poll) newer than its listing wrote (guests/inventory.py).
    revision = models.PositiveBigIntegerField(default=0)

    onboot = models.BooleanField(default=False)
    startup_order = models.PositiveIntegerField(null=True, blank=True)
    # Proxmox's startup "up" (seconds to wait after starting) and "down" (shutdown timeout) of this guest.
    startup_up = models.PositiveIntegerField(null=True, blank=True)
    startup_down = models.PositiveIntegerField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="guests"
    )
    pool = models.ForeignKey(
        "access.Pool", null=True, blank=True, on_delete=models.SET_NULL, related_name="guests"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # Proxmox's options of a guest: its notes (Markdown), tags (';'-separated, as Proxmox keeps them), whether it
    # is a template (start-all skips templates; clone makes guests of them), and the changes that wait for its
    # next start (what the engine cannot change while it runs), as {option: value}.
    description = models.TextField(blank=True)
    tags = models.CharField(max_length=255, blank=True)
    is_template = models.BooleanField("template", default=False)
    pending = models.JSONField(default=dict, blank=True)

    objects = GuestQuerySet.as_manager()

    class Meta:
        ordering = ["vmid"]
        constraints = [
            models.UniqueConstraint(
                fields=["node", "kind", "backend_id"],
                condition=~models.Q(backend_id=""),
                name="guest_unique_backend_object",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind.upper()} {self.vmid} ({self.name})"

    def get_absolute_url(self) -> str:
        return reverse("guest_detail", args=[self.vmid])

    @property
    def uptime(self) -> int:
        """Seconds since the guest started, as of now rather than of the last poll."""
        return uptime_since(self.running_since, timezone.now())

    @property
    def resource_path(self) -> str:
        return resource_path(self.kind)

    @property
    def resource_id(self) -> str:
        """The id of this guest in /cluster/resources and on the live pages: ``qemu/100``, ``lxc/101``."""
        return f"{self.resource_path}/{self.vmid}"

    @property
    def state_badge(self) -> str:
        return STATE_BADGES.get(self.shown_state, "muted")

    @property
    def shown_state(self) -> str:
        """The state to show: unknown while the guest's node is not reporting (the row keeps the last one)."""
        from nodes.choices import NodeStatus

        return self.state if self.node.status == NodeStatus.ONLINE else GuestState.UNKNOWN

    @property
    def shown_state_display(self) -> str:
        return GuestState(self.shown_state).label if self.shown_state in GuestState.values else self.shown_state

    @property
    def memory_bytes(self) -> int:
        return self.memory_mib * 1024 * 1024


class GuestTemplate(models.Model):
    """A template a node can create guests from; the node's worker keeps this list current."""

    node = models.ForeignKey("nodes.Node", on_delete=models.CASCADE, related_name="templates")
    kind = models.CharField(max_length=2, choices=GuestKind.choices)
    name = models.CharField(max_length=128)
    description = models.CharField(max_length=255, blank=True)
    min_memory_mib = models.PositiveIntegerField(default=4)

    class Meta:
        ordering = ["node", "kind", "name"]
        constraints = [models.UniqueConstraint(fields=["node", "kind", "name"], name="template_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class Snapshot(models.Model):
    """A snapshot of a guest as Proxmox keeps it in the guest's config: its name and description, when it was
    taken, whether it holds the RAM, and its place in the tree. The engine holds the data (guests/snapshots.py);
    the panel keeps the tree, as the engines cannot all tell it (a container's is a set of images)."""

    guest = models.ForeignKey(Guest, on_delete=models.CASCADE, related_name="snapshots")
    name = models.CharField(max_length=40)
    description = models.TextField(blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    taken_at = models.DateTimeField()
    vmstate = models.BooleanField(default=False)
    # The snapshot the guest's present state follows: Proxmox's "parent" of the "current" pseudo-snapshot.
    current = models.BooleanField(default=False)

    class Meta:
        ordering = ["taken_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["guest", "name"], name="snapshot_unique_name"),
            models.UniqueConstraint(fields=["guest"], condition=models.Q(current=True),
                                    name="snapshot_one_current_per_guest"),
        ]

    def __str__(self) -> str:
        return f"snapshot {self.name} of {self.guest}"
