"""The node's worker runs the node's collector as one of its threads (nodes/collector.py): started with the
worker, stopped with it."""

from celery.signals import worker_init, worker_shutdown

from .collector import CollectorThread

_collector = CollectorThread()


@worker_init.connect
def start_collector(sender: object, **kwargs: object) -> None:
    concurrency = getattr(sender, "concurrency", None)
    _collector.start(room=concurrency if isinstance(concurrency, int) else 1)


@worker_shutdown.connect
def stop_collector(sender: object, **kwargs: object) -> None:
    _collector.stop()
