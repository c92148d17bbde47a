from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from access import permissions
from access.querysets import RestrictedQuerySet
from drivers.limits import ISO_DIR, ISO_NAME
from drivers.registry import NodeEndpoints
from panel.celery import node_queue

from .choices import STATUS_BADGES, Accelerator, NodeStatus
from .validators import validate_bridge_name, validate_dns_label

# A node's storage directory, as Proxmox's "local" storage of each node (ACL path /storage/local).
LOCAL_STORAGE = "local"
# What it holds, in Proxmox's content words: VM disks, container root file systems, container templates (the
# engine's template images) and ISO images.
STORAGE_CONTENT = "images,rootdir,vztmpl,iso"


class NodeQuerySet(RestrictedQuerySet):
    audit_privilege = "Sys.Audit"
    acl_condition = staticmethod(permissions.node_condition)


class Node(models.Model):
    """A virtualization host: one Docker engine, one libvirt connection, one Celery worker."""

    name = models.CharField(max_length=63, unique=True, validators=[validate_dns_label])
    address = models.CharField(max_length=255, blank=True)
    libvirt_uri = models.CharField("libvirt URI", max_length=255, default="qemu:///system")
    docker_url = models.CharField("Docker URL", max_length=255, default="unix:///var/run/docker.sock")
    accelerator = models.CharField(max_length=8, choices=Accelerator.choices, default=Accelerator.KVM)
    storage_dir = models.CharField(max_length=255, default="/var/lib/panel/images")
    template_dir = models.CharField(max_length=255, default="/var/lib/panel/templates")
    vm_bridge = models.CharField(
        "VM bridge", max_length=15, blank=True, validators=[validate_bridge_name],
        help_text="Host bridge that new VMs' NICs join, like Proxmox's vmbr0; empty for user networking, "
                  "which has no traffic counters.")

    # Written by the node's own worker at every poll.
    last_seen = models.DateTimeField(null=True, blank=True)
    cpus = models.PositiveIntegerField(default=0)
    cpu_usage = models.FloatField(default=0)  # 0..1 of all cores
    load_average = models.FloatField(default=0)  # 1, 5 and 15 minutes
    load_average_5 = models.FloatField(default=0)
    load_average_15 = models.FloatField(default=0)
    memory_total = models.BigIntegerField(default=0)
    memory_used = models.BigIntegerField(default=0)
    memory_available = models.BigIntegerField(default=0)
    swap_total = models.BigIntegerField(default=0)
    swap_used = models.BigIntegerField(default=0)
    disk_total = models.BigIntegerField(default=0)  # the file system holding storage_dir
    disk_used = models.BigIntegerField(default=0)
    root_total = models.BigIntegerField(default=0)  # the root file system
    root_used = models.BigIntegerField(default=0)
    uptime = models.BigIntegerField(default=0)
    kernel = models.CharField(max_length=255, blank=True)
    cpuinfo = models.JSONField(default=dict, blank=True)  # model, cores, sockets, cpus, mhz (nodes/host.py)
    # {"docker": {"ok": bool, "version": str, "error": str}, "libvirt": {...}}
    engines = models.JSONField(default=dict, blank=True)
    # The host's interfaces (bridges first) and its Docker networks, as its last poll read them (read-only).
    network = models.JSONField(default=dict, blank=True)

    objects = NodeQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("node_detail", args=[self.name])

    @property
    def queue(self) -> str:
        return node_queue(self.name)

    @property
    def endpoints(self) -> NodeEndpoints:
        return NodeEndpoints(
            libvirt_uri=self.libvirt_uri,
            docker_url=self.docker_url,
            storage_dir=self.storage_dir,
            template_dir=self.template_dir,
            vm_bridge=self.vm_bridge,
            name_prefix=settings.PANEL_GUEST_NAME_PREFIX,
        )

    @property
    def iso_dir(self) -> Path:
        """Where the node's storage ``local`` keeps ISO images (Proxmox's template/iso)."""
        return Path(self.storage_dir) / ISO_DIR

    def iso_images(self) -> list[os.DirEntry]:
        """The ISO images of the node's storage, by name, when this process runs on that node (its files are not
        this process's to read otherwise: empty)."""
        directory = self.iso_dir
        if self.name != settings.PANEL_NODE_NAME or not directory.is_dir():
            return []
        return sorted((entry for entry in os.scandir(directory)
                       if entry.is_file(follow_symlinks=False) and ISO_NAME.match(entry.name)),
                      key=lambda entry: entry.name)

    @property
    def upload_dir(self) -> Path:
        """Where an upload waits for the node's worker to put it in place (Proxmox's /var/tmp/pveupload-*)."""
        return Path(self.storage_dir) / "template" / "upload"

    @property
    def status(self) -> str:
        """Online while its worker reports; derived on read so that no sweeper is needed."""
        if self.last_seen is None:
            return NodeStatus.UNKNOWN
        limit = timedelta(seconds=settings.PANEL_NODE_OFFLINE_AFTER)
        return NodeStatus.ONLINE if timezone.now() - self.last_seen <= limit else NodeStatus.OFFLINE

    @property
    def status_badge(self) -> str:
        return STATUS_BADGES.get(self.status, "muted")

    def engine_ok(self, engine: str) -> bool:
        return bool(self.engines.get(engine, {}).get("ok"))

    def engine_error(self, engine: str) -> str:
        return self.engines.get(engine, {}).get("error", "")
