from django.db import models


class TaskStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    OK = "ok", "OK"
    ERROR = "error", "error"
    CANCELLED = "cancelled", "cancelled"


ACTIVE_STATUSES = (TaskStatus.QUEUED, TaskStatus.RUNNING)

STATUS_BADGES = {
    TaskStatus.QUEUED: "info",
    TaskStatus.RUNNING: "info",
    TaskStatus.OK: "ok",
    TaskStatus.ERROR: "error",
    TaskStatus.CANCELLED: "warn",
}
