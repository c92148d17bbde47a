"""The Celery app. Each node runs a worker on its own queue, ``node.<name>``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "panel.settings.base")

app = Celery("panel")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def node_queue(node_name: str) -> str:
    """The queue that only the worker of ``node_name`` consumes."""
    return f"node.{node_name}"
