from celery import shared_task

from .poll import poll_node as _poll_node


@shared_task(name="nodes.poll_node")
def poll_node(node_name: str) -> None:
    """Heartbeat, host figures and inventory of one node; queued on that node's own queue."""
    _poll_node(node_name)
