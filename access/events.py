"""Who may do what changed: the access version is bumped (access/permissions.py reads it) and live sockets are
told, on the Channels layer's ``access`` group, to check their user again."""

from __future__ import annotations

from django.db import transaction

from panel.events import publish

from . import permissions
from .models import AccessVersion

ACCESS_GROUP = "access"


def access_changed() -> None:
    """Call within a change of ACL entries, roles, groups, users or tokens: the version is bumped in the same
    transaction (others see it when the change commits), sockets are told once it has."""
    AccessVersion.bump()
    permissions.forget_version(in_transaction=transaction.get_connection().in_atomic_block)
    transaction.on_commit(_tell_sockets)


def _tell_sockets() -> None:
    permissions.forget_version()
    publish(ACCESS_GROUP, {"type": "access.changed"})  # sockets re-read the version at their next event anyway
