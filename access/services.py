"""Changes to who may do what: users, groups, roles, ACL entries, pools and API tokens.

Each function checks that the actor may make the change (the page's privilege, and nobody giving more
than they hold: access/escalation.py), makes it in one transaction, and leaves one audit row. The pages and
the API call these, nothing else writes these models.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction

from panel.errors import Conflict, Forbidden, InvalidRequest

from . import escalation, permissions
from .audit import audited
from .identity import TOKEN_ID, userid
from .models import AclEntry, ApiToken, Pool, Role, normalize_acl_path, validate_acl_path
from .permissions import Grant

User = get_user_model()

# What each management page needs, and where (Proxmox's paths).
MANAGE = {
    "users": ("User.Modify", "/access/groups"),
    "groups": ("Group.Allocate", "/access/groups"),
    "roles": ("Sys.Modify", "/access"),
    "acl": ("Permissions.Modify", "/"),
    "pools": ("Pool.Allocate", "/pool"),
    "audit": ("Sys.Audit", "/"),
}


def may_manage(actor: AbstractBaseUser, what: str) -> bool:
    privilege, path = MANAGE[what]
    return permissions.has_privilege(actor, privilege, path)


def check_may_manage(actor: AbstractBaseUser, what: str) -> None:
    if not may_manage(actor, what):
        raise Forbidden(f"you may not manage {what}")


def _grant(path: str, kind: str, role: Role, propagate: bool) -> Grant:
    return Grant(path, kind, role.name, frozenset(role.privileges), propagate)


# -- users and groups ----------------------------------------------------------------------------------------

def save_user(actor: AbstractBaseUser, user: AbstractBaseUser | None, *, username: str, groups: list[Group],
              password: str = "", email: str = "", first_name: str = "", last_name: str = "",
              is_active: bool = True) -> AbstractBaseUser:
    """Create (``user`` None) or change a user; group changes need User.Modify on each group changed."""
    creating = user is None
    with audited(actor, "user.create" if creating else "user.update", userid(username)):
        check_may_manage(actor, "users")
        if not creating:
            escalation.check_may_change_user(actor, user, f"change {userid(user.get_username())}")
            if password and user.pk != actor.pk:
                escalation.check_holds_at_most(actor, user, f"set the password of {userid(user.get_username())}")
        before = set(user.groups.values_list("pk", flat=True)) if not creating else set()
        after = {g.pk for g in groups}
        for group in Group.objects.filter(pk__in=before ^ after):
            if not permissions.has_privilege(actor, "User.Modify", f"/access/groups/{group.name}"):
                raise Forbidden(f"you may not change the members of group {group.name}")
        old = permissions.grants_of(user.pk) if not creating else []
        new = permissions.grants_of(user.pk if not creating else None, group_ids=list(after))
        escalation.check_no_gain(actor, old, new, f"put {userid(username)} in these groups")
        with transaction.atomic():
            user = user or User(username=username)
            user.username, user.email = username, email
            user.first_name, user.last_name, user.is_active = first_name, last_name, is_active
            if password:
                user.set_password(password)
            elif creating:
                user.set_unusable_password()
            user.save()
            user.groups.set(groups)
    return user


def delete_user(actor: AbstractBaseUser, user: AbstractBaseUser) -> None:
    with audited(actor, "user.delete", userid(user.get_username())):
        check_may_manage(actor, "users")
        escalation.check_may_change_user(actor, user, f"delete {userid(user.get_username())}")
        if user.pk == actor.pk:
            raise Conflict("you may not delete yourself")
        user.delete()


def save_group(actor: AbstractBaseUser, group: Group | None, name: str) -> Group:
    with audited(actor, "group.create" if group is None else "group.update", f"@{name}"):
        check_may_manage(actor, "groups")
        if group is None and Group.objects.filter(name=name).exists():
            raise Conflict(f"group '{name}' already exists")
        group = group or Group()
        group.name = name
        group.save()
    return group


def delete_group(actor: AbstractBaseUser, group: Group) -> None:
    """Its entries and memberships go with it: a member must not gain by that (a NoAccess of the group)."""
    with audited(actor, "group.delete", f"@{group.name}"):
        check_may_manage(actor, "groups")
        for member in group.user_set.all():
            others = list(member.groups.exclude(pk=group.pk).values_list("pk", flat=True))
            escalation.check_no_gain(actor, permissions.grants_of(member.pk),
                                     permissions.grants_of(member.pk, group_ids=others),
                                     f"delete group {group.name}")
        group.delete()


# -- roles ---------------------------------------------------------------------------------------------------

def _holders_after(role: Role, privileges: list[str] | None) -> list[tuple[list[Grant], list[Grant], str]]:
    """For each subject holding ``role``: its grants now, and with the role's privileges replaced (None: the
    role removed)."""
    changes = []
    entries = AclEntry.objects.filter(role=role).select_related("user", "group", "token")
    subjects = {("user", e.user_id) for e in entries if e.user_id}
    subjects |= {("user", u) for e in entries if e.group_id
                 for u in e.group.user_set.values_list("pk", flat=True)}
    subjects |= {("token", e.token_id) for e in entries if e.token_id}
    for kind, pk in subjects:
        before = permissions.grants_of(pk) if kind == "user" else permissions.grants_of(token_id=pk)
        after = []
        for grant in before:
            if grant.role != role.name:
                after.append(grant)
            elif privileges is not None:
                after.append(Grant(grant.path, grant.kind, grant.role, frozenset(privileges), grant.propagate))
        changes.append((before, after, kind))
    return changes


def save_role(actor: AbstractBaseUser, role: Role | None, name: str, privileges: list[str]) -> Role:
    with audited(actor, "role.create" if role is None else "role.update", name):
        check_may_manage(actor, "roles")
        if role is not None:
            if role.builtin:
                raise Forbidden("built-in roles cannot be changed")
            for before, after, _kind in _holders_after(role, privileges):
                escalation.check_no_gain(actor, before, after, f"give role {role.name} these privileges")
        elif Role.objects.filter(name=name).exists():
            raise Conflict(f"role {name} already exists")
        role = role or Role()
        role.name, role.privileges = name, sorted(privileges)
        role.save()
    return role


def delete_role(actor: AbstractBaseUser, role: Role) -> None:
    with audited(actor, "role.delete", role.name):
        check_may_manage(actor, "roles")
        if role.builtin:
            raise Forbidden("built-in roles cannot be changed")
        for before, after, _kind in _holders_after(role, None):
            escalation.check_no_gain(actor, before, after, f"delete role {role.name}")
        role.delete()


# -- ACL entries ---------------------------------------------------------------------------------------------

def _subject_changes(entry_before: AclEntry | None, entry_after: AclEntry | None):
    """(before, after) grants of every subject an entry change touches: a user, each member of a group (and
    the group alone, for members to come), a token."""
    subjects = set()
    for entry in (entry_before, entry_after):
        if entry is None:
            continue
        if entry.user_id:
            subjects.add(("user", entry.user_id))
        elif entry.group_id:
            subjects.add(("group", entry.group_id))
            subjects |= {("user", pk) for pk in entry.group.user_set.values_list("pk", flat=True)}
        else:
            subjects.add(("token", entry.token_id))

    def grants(kind: str, pk: int) -> list[Grant]:
        if kind == "user":
            return permissions.grants_of(pk)
        if kind == "token":
            return permissions.grants_of(token_id=pk)
        return permissions.grants_of(None, group_ids=[pk])

    def touches(entry: AclEntry | None, kind: str, pk: int) -> str | None:
        """The kind of grant ``entry`` is for the subject, None when it is not the subject's."""
        if entry is None:
            return None
        if kind == "token":
            return "user" if entry.token_id == pk else None
        if kind == "group":
            return "group" if entry.group_id == pk else None
        if entry.user_id == pk:
            return "user"
        return "group" if entry.group_id and entry.group.user_set.filter(pk=pk).exists() else None

    for kind, pk in subjects:
        before = grants(kind, pk)
        after = list(before)
        if entry_before is not None and entry_before.pk and touches(entry_before, kind, pk):
            old = _grant(entry_before.path, touches(entry_before, kind, pk), entry_before.role,
                         entry_before.propagate)
            if old in after:
                after.remove(old)
        if (grant_kind := touches(entry_after, kind, pk)) is not None:
            after.append(_grant(entry_after.path, grant_kind, entry_after.role, entry_after.propagate))
        yield before, after


def save_acl(actor: AbstractBaseUser, entry: AclEntry | None, *, path: str, role: Role, user=None, group=None,
             token: ApiToken | None = None, propagate: bool = True) -> AclEntry:
    path = normalize_acl_path(path)
    try:
        validate_acl_path(path)
    except Exception as exc:  # a ValidationError: say it as the service's own error
        raise InvalidRequest(f"invalid ACL path '{path}'") from exc
    if sum(x is not None for x in (user, group, token)) != 1:
        raise InvalidRequest("choose exactly one of a user, a group or an API token")
    new = AclEntry(pk=entry.pk if entry else None, path=path, role=role, user=user, group=group, token=token,
                   propagate=propagate)
    with audited(actor, "acl.create" if entry is None else "acl.update", new):
        check_may_manage(actor, "acl")
        for changed in {path, entry.path if entry else path}:
            if not permissions.has_privilege(actor, "Permissions.Modify", changed):
                raise Forbidden(f"you may not change the permissions on {changed}")
        old = AclEntry.objects.select_related("role", "group").get(pk=entry.pk) if entry else None
        for before, after in _subject_changes(old, new):
            escalation.check_no_gain(actor, before, after, f"grant {role.name} on {path}")
        new.save()
    return new


def delete_acl(actor: AbstractBaseUser, entry: AclEntry) -> None:
    with audited(actor, "acl.delete", entry):
        check_may_manage(actor, "acl")
        if not permissions.has_privilege(actor, "Permissions.Modify", entry.path):
            raise Forbidden(f"you may not change the permissions on {entry.path}")
        for before, after in _subject_changes(entry, None):
            escalation.check_no_gain(actor, before, after, f"remove {entry.role.name} on {entry.path}")
        entry.delete()


# -- pools ---------------------------------------------------------------------------------------------------

def save_pool(actor: AbstractBaseUser, pool: Pool | None, **fields: object) -> Pool:
    with audited(actor, "pool.create" if pool is None else "pool.update", fields.get("name", pool)):
        check_may_manage(actor, "pools")
        if pool is None and Pool.objects.filter(name=fields.get("name")).exists():
            raise Conflict(f"pool '{fields.get('name')}' already exists")
        pool = pool or Pool()
        for name, value in fields.items():
            setattr(pool, name, value)
        pool.save()
    return pool


def delete_pool(actor: AbstractBaseUser, pool: Pool) -> None:
    """Only an empty pool (as Proxmox); its ACL entries go with it. The refusal names only the members the actor
    may see (Pool.Allocate is no right to see the guests)."""
    with audited(actor, "pool.delete", pool.name):
        check_may_manage(actor, "pools")
        members = pool.guests.count()
        if members:
            shown = [str(g) for g in pool.guests.visible_to(actor).order_by("vmid")[:3]]
            others = members - len(shown)
            if others:
                shown.append(f"{others} {'other ' if shown else ''}guest{'s' if others > 1 else ''}")
            raise Conflict(f"pool {pool.name} is not empty (contains {', '.join(shown)})")
        with transaction.atomic():
            AclEntry.objects.filter(path=pool.path).delete()
            pool.delete()


# -- API tokens ----------------------------------------------------------------------------------------------

def create_token(actor: AbstractBaseUser, tokenid: str, privsep: bool = True, expires_at: datetime | None = None,
                 comment: str = "", owner: AbstractBaseUser | None = None) -> tuple[ApiToken, str]:
    """A token of the actor's own (of ``owner``'s for a superuser); the secret is returned this once, only its
    hash is kept. A token never has more than its user: without privilege separation it has exactly the user's
    privileges."""
    owner = owner or actor
    with audited(actor, "token.create", f"{userid(owner.get_username())}!{tokenid}"):
        if permissions.api_token(actor) is not None:
            raise Forbidden("an API token may not make API tokens")
        if owner.pk != actor.pk and not permissions.is_root(actor):
            raise Forbidden("you may make API tokens only for yourself")
        if not TOKEN_ID.fullmatch(tokenid) or len(tokenid) > 64:
            raise InvalidRequest(f"invalid token id '{tokenid}': letters, digits, '.', '_' and '-', starting with "
                                 "a letter")
        if ApiToken.objects.filter(user=owner, tokenid=tokenid).exists():
            raise Conflict(f"{userid(owner.get_username())} already has a token named {tokenid}")
        token = ApiToken(user=owner, tokenid=tokenid, privsep=privsep, expires_at=expires_at, comment=comment)
        secret = token.set_new_secret()
        token.save()
    return token, secret


def update_token(actor: AbstractBaseUser, token: ApiToken, **fields: object) -> ApiToken:
    """Change a token's ``comment``, ``expires_at`` or ``privsep``: one's own, or any for a superuser."""
    with audited(actor, "token.update", token.full_id):
        if permissions.api_token(actor) is not None:
            raise Forbidden("an API token may not change API tokens")
        if token.user_id != actor.pk and not permissions.is_root(actor):
            raise Forbidden("you may change only your own tokens")
        for name in ("comment", "expires_at", "privsep"):
            if name in fields:
                setattr(token, name, fields[name])
        token.save()
    return token


def delete_token(actor: AbstractBaseUser, token: ApiToken) -> None:
    with audited(actor, "token.delete", token.full_id):
        if token.user_id != actor.pk and not permissions.is_root(actor):
            raise Forbidden("you may delete only your own tokens")
        token.delete()
