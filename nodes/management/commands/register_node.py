"""Register (or update) the node this machine runs, from the PANEL_* settings or options."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from nodes.choices import Accelerator
from nodes.models import Node


class Command(BaseCommand):
    help = "Create or update a node row; its worker then serves the queue node.<name> and polls the node."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", default=settings.PANEL_NODE_NAME)
        parser.add_argument("--address", default=settings.PANEL_NODE_ADDRESS)
        parser.add_argument("--libvirt-uri", default=settings.PANEL_LIBVIRT_URI)
        parser.add_argument("--docker-url", default=settings.PANEL_DOCKER_URL)
        parser.add_argument("--accelerator", default=settings.PANEL_ACCELERATOR, choices=Accelerator.values)
        parser.add_argument("--storage-dir", default=settings.PANEL_STORAGE_DIR)
        parser.add_argument("--template-dir", default=settings.PANEL_TEMPLATE_DIR)
        parser.add_argument("--vm-bridge", default=settings.PANEL_VM_BRIDGE,
                            help="host bridge for VM NICs; empty for user networking")

    def handle(self, *args: object, **options: object) -> None:
        values = {
            "address": options["address"],
            "libvirt_uri": options["libvirt_uri"],
            "docker_url": options["docker_url"],
            "accelerator": options["accelerator"],
            "storage_dir": options["storage_dir"],
            "template_dir": options["template_dir"],
            "vm_bridge": options["vm_bridge"],
        }
        node = Node.objects.filter(name=options["name"]).first() or Node(name=options["name"])
        changed = node.pk is None or any(getattr(node, k) != v for k, v in values.items())
        for key, value in values.items():
            setattr(node, key, value)
        try:
            node.full_clean()
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        if changed:
            node.save()
        state = "registered" if changed else "unchanged"
        self.stdout.write(f"node {node.name} {state} (queue {node.queue}, accelerator {node.accelerator})")
