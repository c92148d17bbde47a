"""Each node gets a periodic poll on its own queue, kept in django-celery-beat's tables."""

import json

from celery.signals import worker_ready
from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from panel.celery import node_queue

from .models import Node

POLL_TASK = "nodes.poll_node"


def poll_task_name(node: Node) -> str:
    return f"poll node {node.name}"


@receiver(post_save, sender=Node)
def schedule_node_poll(sender: type[Node], instance: Node, update_fields: frozenset | None = None,
                       **kwargs: object) -> None:
    if update_fields is not None and "name" not in update_fields:
        return  # a heartbeat or another partial save: the schedule depends on the name and the setting only
    ensure_poll_schedule(instance)


def ensure_poll_schedule(node: Node) -> None:
    """The node's periodic poll, every PANEL_POLL_INTERVAL s on its own queue."""
    interval = settings.PANEL_POLL_INTERVAL
    schedule, _ = IntervalSchedule.objects.get_or_create(every=interval, period=IntervalSchedule.SECONDS)
    wanted = {
        "task": POLL_TASK,
        "interval_id": schedule.pk,
        "args": json.dumps([node.name]),
        "queue": node.queue,
        # A poll that waited longer than one interval is useless: a newer one is queued.
        "expire_seconds": interval,
    }
    current = PeriodicTask.objects.filter(name=poll_task_name(node)).values(*wanted).first()
    # Write only when something changed, or beat reloads its whole schedule.
    if current != wanted:
        PeriodicTask.objects.update_or_create(name=poll_task_name(node), defaults=wanted)


@receiver(post_delete, sender=Node)
def unschedule_node_poll(sender: type[Node], instance: Node, **kwargs: object) -> None:
    PeriodicTask.objects.filter(name=poll_task_name(instance)).delete()


@worker_ready.connect
def poll_at_worker_start(sender: object, **kwargs: object) -> None:
    """Fail what the previous run of this worker left running, and report at once instead of after
    the first beat interval, so a new node shows up quickly."""
    from tasks.recovery import fail_tasks_of_restarted_worker

    from .tasks import poll_node

    node = Node.objects.filter(name=settings.PANEL_NODE_NAME).first()
    if node is not None:
        fail_tasks_of_restarted_worker(node)
    poll_node.apply_async(args=[settings.PANEL_NODE_NAME], queue=node_queue(settings.PANEL_NODE_NAME))
