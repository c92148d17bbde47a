from celery import shared_task
from django.db import close_old_connections, connection

from .worker import execute


@shared_task(name="tasks.run_task")
def run_task(task_id: int) -> None:
    """Run a submitted task; only the worker of the task's node consumes its queue.

    Tasks run in the worker's threads, each with its own database connection (Django's are per thread):
    one left broken or past its age by the previous task is dropped first, and the task's own is closed
    after it, so that an idle slot holds no connection."""
    close_old_connections()
    try:
        execute(task_id)
    finally:
        connection.close()
