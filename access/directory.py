"""Who's who, as Proxmox's /access lists it to a user: the users, groups, ACL entries and permissions the user
may read. Changes are access/services.py's."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group

from panel.errors import Forbidden, NotFound

from . import permissions
from .capabilities import permission_map
from .identity import userid, username_of
from .models import AclEntry

User = get_user_model()
READ_USERS = {"User.Modify", "Sys.Audit"}
READ_GROUPS = {"User.Modify", "Sys.Audit", "Group.Allocate"}


def _may_read_group(actor: AbstractBaseUser, group_name: str | None, wanted: set[str]) -> bool:
    path = "/access/groups" if group_name is None else f"/access/groups/{group_name}"
    return bool(permissions.privileges(actor, path) & wanted)


def may_read_user(actor: AbstractBaseUser, user: AbstractBaseUser) -> bool:
    """Oneself; anyone with User.Modify or Sys.Audit on /access/groups or on one of the user's groups."""
    if user.pk == actor.pk or _may_read_group(actor, None, READ_USERS):
        return True
    return any(_may_read_group(actor, name, READ_USERS) for name in user.groups.values_list("name", flat=True))


def users_visible_to(actor: AbstractBaseUser) -> list[AbstractBaseUser]:
    users = User.objects.prefetch_related("groups").order_by("username")
    if _may_read_group(actor, None, READ_USERS):
        return list(users)
    return [u for u in users if may_read_user(actor, u)]


def user_named(actor: AbstractBaseUser, full_id: str) -> AbstractBaseUser:
    """The user ``name@realm`` if the actor may read it; NotFound alike whether it exists or not."""
    try:
        user = User.objects.filter(username=username_of(full_id)).first()
    except ValueError:
        user = None
    if user is None or not may_read_user(actor, user):
        raise NotFound(f"no such user ('{full_id}')")
    return user


def groups_visible_to(actor: AbstractBaseUser) -> list[Group]:
    groups = Group.objects.prefetch_related("user_set").order_by("name")
    return [g for g in groups if _may_read_group(actor, g.name, READ_GROUPS)]


def group_named(actor: AbstractBaseUser, name: str) -> Group:
    group = Group.objects.filter(name=name).first()
    if group is None or not _may_read_group(actor, name, READ_GROUPS):
        raise NotFound(f"group '{name}' does not exist")
    return group


def acl_visible_to(actor: AbstractBaseUser) -> list[AclEntry]:
    """The entries on paths where the actor may change permissions (Proxmox's rule)."""
    entries = AclEntry.objects.select_related("user", "group", "token__user", "role")
    return [e for e in entries if permissions.has_privilege(actor, "Permissions.Modify", e.path)]


def permissions_of(actor: AbstractBaseUser, full_id: str | None, path: str | None) -> dict:
    """/access/permissions: one's own (or one's token's) privileges, or another user's with Sys.Audit on /access."""
    subject = actor
    if full_id and full_id != userid(actor.get_username()):
        name, _, tokenid = full_id.partition("!")
        if not permissions.has_privilege(actor, "Sys.Audit", "/access") and name != userid(actor.get_username()):
            raise Forbidden("you may read only your own permissions (Sys.Audit on /access for another user's)")
        subject = user_named(actor, name) if name != userid(actor.get_username()) else actor
        if tokenid:
            token = subject.api_tokens.filter(tokenid=tokenid).first()
            if token is None:
                raise NotFound(f"no such token '{full_id}'")
            subject = User.objects.get(pk=subject.pk)
            subject.panel_api_token = token
    return permission_map(subject, [path] if path else None)
