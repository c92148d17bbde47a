from django.db import models


class Accelerator(models.TextChoices):
    KVM = "kvm", "KVM (hardware)"
    QEMU = "qemu", "QEMU (software emulation)"


class NodeStatus(models.TextChoices):
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"
    UNKNOWN = "unknown", "Unknown"


STATUS_BADGES = {NodeStatus.ONLINE: "ok", NodeStatus.OFFLINE: "error", NodeStatus.UNKNOWN: "error"}
