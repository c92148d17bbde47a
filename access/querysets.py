"""Querysets restricted in SQL to what a user may see or do, as NetBox's RestrictedQuerySet: every list of
guests, nodes or tasks (pages, API, sockets) starts from ``Model.objects.visible_to(user)``."""

from __future__ import annotations

from typing import ClassVar, Self

from django.db import models

from . import permissions


class RestrictedQuerySet(models.QuerySet):
    """A queryset of objects governed by ACL paths; subclasses say which privilege lets one see them and
    how the ACL entries translate into a condition on their rows."""

    audit_privilege: ClassVar[str]
    acl_condition: ClassVar[permissions.Condition]

    def visible_to(self, user: permissions.User, privilege: str | None = None) -> Self:
        """The objects on which ``user`` has ``privilege`` (by default: the one that lets them see it)."""
        condition = type(self).acl_condition
        return self.filter(permissions.condition(user, privilege or self.audit_privilege, condition))
