from django.db import models


class TaskStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    OK = "ok", "OK"
    ERROR = "error", "error"
    CANCELLED = "cancelled", "cancelled"


ACTIVE_STATUSES = (TaskStatus.QUEUED, TaskStatus.RUNNING)

# Bounds of what a user may ask for: one page of a task list or of a log, and a timeout (Proxmox's 7200 s).
TASK_PAGE_MAX = 1000
LOG_PAGE_MAX = 5000
MAX_TIMEOUT = 7200

STATUS_BADGES = {
    TaskStatus.QUEUED: "info",
    TaskStatus.RUNNING: "info",
    TaskStatus.OK: "ok",
    TaskStatus.ERROR: "error",
    TaskStatus.CANCELLED: "warn",
}
