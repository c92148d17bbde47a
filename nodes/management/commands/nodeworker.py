"""Run this node's Celery worker: it consumes only the queue node.<PANEL_NODE_NAME>.

One process: tasks run in a pool of threads (``--pool threads``), because what they do is wait for an engine
(Docker, libvirt) or the database, and the node's collector is a thread of the same process
(nodes/collector.py). A process per task slot cost 100-140 MB each; threads share one interpreter, one engine
client per engine (drivers/registry.py) and nothing forks, which libvirt and the database drivers do not
survive well."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from panel.celery import app, node_queue


class Command(BaseCommand):
    help = "Start the Celery worker of this node (queue node.<PANEL_NODE_NAME>)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--concurrency", type=int, default=settings.PANEL_WORKER_CONCURRENCY,
                            help="tasks run at once (threads)")
        parser.add_argument("--loglevel", default="INFO")

    def handle(self, *args: object, **options: object) -> None:
        name = settings.PANEL_NODE_NAME
        # Workers of several nodes may log to one terminal (`make run-cluster`): each line names its node.
        app.conf.worker_log_format = f"[%(asctime)s: %(levelname)s/%(threadName)s] worker {name}: %(message)s"
        app.conf.worker_task_log_format = (f"[%(asctime)s: %(levelname)s/%(threadName)s] worker {name}: "
                                           "%(task_name)s[%(task_id)s]: %(message)s")
        app.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--queues={node_queue(name)}",
                f"--hostname={name}@%h",
                f"--concurrency={options['concurrency']}",
                f"--loglevel={options['loglevel']}",
                "--without-mingle",
                "--without-gossip",
            ]
        )
