"""The one place that decides what a user may see and do.

Every view, API endpoint, websocket consumer and task submission asks here. Until
Proxmox-style roles and ACLs land, the rule is: superusers and staff administer
everything; any other user sees and powers only the guests they own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

if TYPE_CHECKING:
    from guests.models import Guest

User = AbstractBaseUser | AnonymousUser

POWER_ACTIONS = {"start", "shutdown", "stop", "reboot", "suspend", "resume"}


def is_admin(user: User) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or user.is_staff))


def visible_guests(user: User, queryset: QuerySet[Guest]) -> QuerySet[Guest]:
    """Restrict ``queryset`` in SQL to the guests ``user`` may see."""
    if is_admin(user):
        return queryset
    if not user.is_authenticated:
        return queryset.none()
    return queryset.filter(owner=user)


def can_act_on_guest(user: User, guest: Guest, action: str) -> bool:
    if is_admin(user):
        return True
    return bool(user.is_authenticated and guest.owner_id == user.pk and action in POWER_ACTIONS)


def can_create_guests(user: User) -> bool:
    return is_admin(user)


def can_see_nodes(user: User) -> bool:
    return is_admin(user)


def can_power_node(user: User, node: object) -> bool:
    """start-all / stop-all (Proxmox: VM.PowerMgmt on every guest, Sys.PowerMgmt on the node)."""
    return is_admin(user)


def visible_tasks(user: User, queryset: QuerySet) -> QuerySet:
    """Tasks the user started, and tasks on guests they may see."""
    if is_admin(user):
        return queryset
    if not user.is_authenticated:
        return queryset.none()
    return queryset.filter(Q(user=user) | Q(guest__owner=user))


def can_cancel_task(user: User, task: object) -> bool:
    return is_admin(user) or bool(user.is_authenticated and getattr(task, "user_id", None) == user.pk)
