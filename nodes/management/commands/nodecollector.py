"""Run this node's collector (nodes/collector.py). The node's worker starts it; by hand, it polls until stopped."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from nodes.collector import run


class Command(BaseCommand):
    help = "Poll this node (PANEL_NODE_NAME) every PANEL_POLL_INTERVAL s: heartbeat, inventory, task recovery."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--room", type=int, default=4, help="tasks the node's worker runs at once")
        parser.add_argument("--worker-pipe", type=int, default=None,
                            help="file descriptor from the worker: the collector exits when it closes")

    def handle(self, *args: object, **options: object) -> None:
        run(settings.PANEL_NODE_NAME, options["room"], options["worker_pipe"])
