from celery import shared_task

from .worker import execute


@shared_task(name="tasks.run_task")
def run_task(task_id: int) -> None:
    """Run a submitted task; only the worker of the task's node consumes its queue."""
    execute(task_id)
