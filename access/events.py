"""Who may do what changed: the access version is bumped (access/permissions.py reads it) and live sockets are
told, on the Channels layer's ``access`` group, to check their user again."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from . import permissions
from .models import AccessVersion

logger = logging.getLogger(__name__)

ACCESS_GROUP = "access"


def access_changed() -> None:
    """Call within a change of ACL entries, roles, groups, users or tokens: the version is bumped in the same
    transaction (others see it when the change commits), sockets are told once it has."""
    AccessVersion.bump()
    permissions.forget_version(in_transaction=transaction.get_connection().in_atomic_block)
    transaction.on_commit(_tell_sockets)


def _tell_sockets() -> None:
    permissions.forget_version()
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(ACCESS_GROUP, {"type": "access.changed"})
    except Exception:  # sockets re-read the version at their next event anyway
        logger.warning("could not tell the sockets that access changed", exc_info=True)
