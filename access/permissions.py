"""The one place that decides what a user (or an API token) may see and do.

Proxmox's model: a role is a set of privileges; an ACL entry grants a role on a path to a user, a group or
a token. To resolve the privileges of a user on a path, walk the path from ``/`` down to it; at every level
with entries that apply (entries on an intermediate level apply only when they propagate), those entries
replace what came from above; on one level the user's own entries override those of their groups, and
NoAccess denies everything. A guest in a pool also gets, as Proxmox's ``compile_acl_path`` does, the roles
resolved on ``/pool/<pool>`` (entries there apply whether they propagate or not) added to those of its own
chain ``/``, ``/vms``, ``/vms/<vmid>``; NoAccess from either side denies. Superusers are ``root@pam`` and
have every privilege. A privilege-separated API token has what its own ACL entries grant, never more than
its user.

Every view, API endpoint, websocket consumer and task submission asks here; lists are filtered in SQL by
the conditions built here from the few ACL entries of the user, through each model's queryset
(``Guest.objects.visible_to(user)``, see access/querysets.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Q

from .choices import ACTION_PRIVILEGE, NO_ACCESS, PRIVILEGES


class GuardedGuest(Protocol):
    """What a guest's privileges are resolved from (access knows no guest model)."""

    vmid: int
    pool_id: int | None
    pool: Any


class GuardedTask(Protocol):
    user_id: int | None
    node: Any

User = AbstractBaseUser | AnonymousUser

@dataclass(frozen=True)
class Grant:
    path: str
    kind: str  # "user" or "group" (a token's own entries count as "user")
    role: str
    privileges: frozenset[str]
    propagate: bool


def is_root(user: User) -> bool:
    """root@pam: a superuser, unless acting through a privilege-separated token."""
    token = api_token(user)
    return bool(user.is_authenticated and user.is_active and user.is_superuser and not (token and token.privsep))


def api_token(user: User):
    """The API token the request authenticated with (set by api.authentication), or None."""
    return getattr(user, "panel_api_token", None)


def invalidate(user: User) -> None:
    """Forget what this process knows of ``user``'s grants (every ACL change does so by itself)."""
    token = api_token(user)
    _cache.pop((user.pk, token.pk if token is not None else None), None)


# The grants of each (user, token), for the access version they were read at. Every ACL, role, group, user
# and token change bumps the version (access/signals.py); a process reads it at most every VERSION_TTL s, and
# at once after a change it made itself.
VERSION_TTL = 1.0
_MAX_CACHED = 10_000
_cache: dict[tuple[int, int | None], tuple[int, tuple[list[Grant], list[Grant] | None]]] = {}
# "uncommitted": this process changed access in a transaction not committed yet; what it reads meanwhile is
# not kept, as that transaction may still roll back.
_version: dict[str, float | int | bool | None] = {"n": None, "read_at": 0.0, "uncommitted": False}


def access_version() -> int:
    """The version of every user's grants; cheap: a query at most every VERSION_TTL seconds per process."""
    now = time.monotonic()
    if _version["n"] is None or now - float(_version["read_at"] or 0) > VERSION_TTL:
        from .models import AccessVersion

        _version["n"], _version["read_at"] = AccessVersion.current(), now
    return int(_version["n"])


def forget_version(in_transaction: bool = False) -> None:
    """This process changed access: read the version again at the next check."""
    _version["n"] = None
    _version["uncommitted"] = in_transaction


def grants_of(user_id: int | None = None, group_ids: list[int] | None = None, token_id: int | None = None,
              ) -> list[Grant]:
    """The entries of a user (with those of ``group_ids``, by default their groups'), or of a token."""
    from .models import AclEntry

    rows = AclEntry.objects.select_related("role")
    if token_id is not None:
        return [_grant(e, "user") for e in rows.filter(token_id=token_id)]
    groups = Q(group__user=user_id) if group_ids is None else Q(group_id__in=group_ids)
    own = Q(user_id=user_id) if user_id is not None else Q(pk__in=[])
    return [_grant(e, "user" if e.user_id else "group") for e in rows.filter(own | groups).distinct()]


def _grant(entry, kind: str) -> Grant:
    return Grant(entry.path, kind, entry.role.name, frozenset(entry.role.privileges), entry.propagate)


def _grants(user: User) -> tuple[list[Grant], list[Grant] | None]:
    """The user's (and groups') entries and, for a privilege-separated token, the token's."""
    token = api_token(user)
    key = (user.pk, token.pk if token is not None else None)
    version = access_version()
    cached = _cache.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    result = (grants_of(user.pk), grants_of(token_id=token.pk) if token is not None and token.privsep else None)
    if _version["uncommitted"] and transaction.get_connection().in_atomic_block:
        return result
    if len(_cache) >= _MAX_CACHED:
        _cache.clear()
    _cache[key] = (version, result)
    return result


def signature(user: User) -> tuple:
    """What decides everything ``user`` may see and do, as a hashable key (two users with the same grants
    have the same one)."""
    if not user.is_authenticated or not user.is_active:
        return ("nobody",)
    if user.is_superuser and not (api_token(user) and api_token(user).privsep):
        return ("root",)
    mine, token = _grants(user)
    return (user.is_superuser, frozenset(mine), frozenset(token) if token is not None else None)


def chain_of(path: str) -> list[str]:
    """``/nodes/pve1`` -> ``["/", "/nodes", "/nodes/pve1"]``."""
    parts = [p for p in path.split("/") if p]
    return ["/"] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


@dataclass(frozen=True)
class Level:
    """What a walk down a chain gives: privileges, or a denial (NoAccess) that nothing else may lift."""

    privileges: frozenset[str]
    denied: bool


DENIED, NO_ENTRY = Level(frozenset(), True), Level(frozenset(), False)


def _level(grants: list[Grant], path: str, final: bool) -> Level | None:
    """What the entries on ``path`` give, or None when no entry applies there."""
    here = [g for g in grants if g.path == path and (final or g.propagate)]
    if not here:
        return None
    users = [g for g in here if g.kind == "user"]
    chosen = users or here  # the user's own entries override their groups'
    if any(g.role == NO_ACCESS for g in chosen):
        return DENIED
    return Level(frozenset().union(*(g.privileges for g in chosen)), False)


def walk(grants: list[Grant], chain: list[str]) -> Level:
    """What ``grants`` give on the last path of ``chain`` (the deepest level with entries decides)."""
    result = NO_ENTRY
    for index, path in enumerate(chain):
        level = _level(grants, path, index == len(chain) - 1)
        if level is not None:
            result = level
    return result


def resolve(grants: list[Grant], chain: list[str]) -> frozenset[str]:
    """The privileges ``grants`` give on the last path of ``chain``."""
    return walk(grants, chain).privileges


def resolve_guest(grants: list[Grant], vmid: int | str, pool: str | None) -> frozenset[str]:
    """The privileges ``grants`` give on guest ``vmid`` of ``pool``: its own chain's, plus its pool's."""
    own = walk(grants, ["/", "/vms", f"/vms/{vmid}"])
    if own.denied or pool is None:
        return own.privileges
    pooled = walk(grants, ["/", "/pool", f"/pool/{pool}"])
    return frozenset() if pooled.denied else own.privileges | pooled.privileges


Resolver = Callable[[list[Grant]], frozenset[str]]


def privileges_by(user: User, resolver: Resolver) -> set[str]:
    """What ``resolver`` gives over the user's grants (and, for a privilege-separated token, no more than it
    gives over the token's own)."""
    if not user.is_authenticated or not user.is_active:
        return set()
    token = api_token(user)
    mine = frozenset(PRIVILEGES) if user.is_superuser else resolver(_grants(user)[0])
    if token is not None and token.privsep:
        return set(mine & resolver(_grants(user)[1] or []))
    return set(mine)


def privileges_on_chain(user: User, chain: list[str]) -> set[str]:
    """Every privilege ``user`` has on the last path of ``chain``."""
    return privileges_by(user, lambda grants: resolve(grants, chain))


def guest_privileges(user: User, vmid: int, pool: str | None) -> set[str]:
    """Every privilege ``user`` has on guest ``vmid``, a member of ``pool`` (or of none)."""
    return privileges_by(user, lambda grants: resolve_guest(grants, vmid, pool))


def privileges(user: User, path: str) -> set[str]:
    """Every privilege ``user`` has on ``path`` (``/vms/<vmid>`` as a guest outside any pool: for a guest,
    ask ``guest_privileges``)."""
    return privileges_on_chain(user, chain_of(path))


def has_privilege(user: User, privilege: str, path: str) -> bool:
    """May ``user`` do ``privilege`` on ``path`` (``/``, ``/nodes/pve1``, ``/vms/101``, ``/pool/a``...)?"""
    if privilege not in PRIVILEGES:
        raise ValueError(f"unknown privilege {privilege!r}")
    return privilege in privileges(user, path)


def has_guest_privilege(user: User, privilege: str, guest: GuardedGuest) -> bool:
    pool = guest.pool.name if guest.pool_id else None
    return privilege in guest_privileges(user, guest.vmid, pool)


@dataclass(frozen=True)
class _Collection:
    """How the entries of a user decide for the objects of one collection (``/vms``, ``/pool``, ``/nodes``):
    what an object without entries of its own gets, and the objects with entries of their own."""

    base: Level
    own: dict[str, Level]

    def having(self, privilege: str, field: str) -> Q:
        """The objects on which the collection's entries give ``privilege``."""
        yes = {name for name, level in self.own.items() if privilege in level.privileges}
        return _members(privilege in self.base.privileges, field, yes, set(self.own) - yes)

    def not_denied(self, field: str) -> Q:
        """The objects no NoAccess reaches."""
        denied = {name for name, level in self.own.items() if level.denied}
        return _members(not self.base.denied, field, set(self.own) - denied, denied)


def _collection(grants: list[Grant], collection: str, names: Callable[[str], bool] = bool) -> _Collection:
    own = {}
    for path in {g.path for g in grants if g.path.startswith(collection + "/")}:
        name = path.removeprefix(collection + "/")
        level = _level(grants, path, final=True) if names(name) and "/" not in name else None
        if level is not None:
            own[name] = level
    return _Collection(walk(grants, ["/", collection, f"{collection}/-"]), own)


def _members(base: bool, field: str, yes: set[str], no: set[str]) -> Q:
    """The objects in ``yes``, or with ``base`` every object not in ``no``."""
    if base:
        return ~Q(**{field: no}) if no else EVERYTHING
    return Q(**{field: yes}) if yes else NOTHING


def guest_condition(grants: list[Grant], privilege: str, prefix: str = "") -> Q:
    """A Q selecting the guests on which ``grants`` give ``privilege`` (``resolve_guest`` in SQL); ``prefix``
    reaches the guest through a relation (``guest__``)."""
    vms, pools = _collection(grants, "/vms", str.isdigit), _collection(grants, "/pool")
    vmid, pool = f"{prefix}vmid__in", f"{prefix}pool__name__in"
    outside_pools = Q(**{f"{prefix}pool__isnull": True})
    return (vms.not_denied(vmid) & (outside_pools | pools.not_denied(pool))
            & (vms.having(privilege, vmid) | (~outside_pools & pools.having(privilege, pool))))


def node_condition(grants: list[Grant], privilege: str, prefix: str = "") -> Q:
    """A Q selecting the nodes whose resolved privileges on /nodes/<name> include ``privilege``."""
    return _collection(grants, "/nodes").having(privilege, f"{prefix}name__in")


# Never an empty Q(): it would vanish when combined with |.
EVERYTHING, NOTHING = Q(pk__isnull=False), Q(pk__isnull=True)
Condition = Callable[[list[Grant], str, str], Q]


def condition(user: User, privilege: str, builder: Condition, prefix: str = "") -> Q:
    """The SQL condition for the objects on which ``user`` has ``privilege``: ``builder`` over the user's
    grants, and over its token's when the token has its own privileges (privsep)."""
    if not user.is_authenticated or not user.is_active:
        return NOTHING
    token = api_token(user)
    result = EVERYTHING if user.is_superuser else builder(_grants(user)[0], privilege, prefix)
    if token is not None and token.privsep:
        result &= builder(_grants(user)[1] or [], privilege, prefix)
    return result


def can_act_on_guest(user: User, guest: GuardedGuest, action: str) -> bool:
    privilege = ACTION_PRIVILEGE.get(str(action))
    return privilege is not None and has_guest_privilege(user, privilege, guest)


def allocatable_pools(user: User):
    """Pools in which ``user`` may create guests (VM.Allocate on /pool/<name>)."""
    from .models import Pool

    return [pool for pool in Pool.objects.all() if has_privilege(user, "VM.Allocate", pool.path)]


def can_create_guests(user: User, pool: object | None = None) -> bool:
    """VM.Allocate on /pool/<pool> for a guest created in a pool, else on /vms; with no pool given: anywhere."""
    if pool is not None:
        return has_privilege(user, "VM.Allocate", f"/pool/{pool}")
    return has_privilege(user, "VM.Allocate", "/vms") or bool(allocatable_pools(user))


def can_see_nodes(user: User) -> bool:
    return has_privilege(user, "Sys.Audit", "/nodes")


def task_condition(user: User, own: bool = True) -> Q:
    """Tasks the user started (unless ``own`` is false), tasks on guests they may audit, node tasks on nodes
    they may audit."""
    if is_root(user):
        return EVERYTHING
    audited = ((Q(guest__isnull=False) & condition(user, "VM.Audit", guest_condition, "guest__"))
               | (Q(guest__isnull=True) & condition(user, "Sys.Audit", node_condition, "node__")))
    token = api_token(user)
    if not own or (token is not None and token.privsep):
        return audited  # a separated token sees only what its own entries let it audit
    return (Q(user=user) | audited) if user.is_authenticated and user.is_active else NOTHING


def can_cancel_task(user: User, task: GuardedTask) -> bool:
    """The user who started it, or Sys.Modify on its node. A privilege-separated token is not its user: it
    needs Sys.Modify of its own (Proxmox compares the task's user!token)."""
    if not user.is_authenticated:
        return False
    token = api_token(user)
    if getattr(task, "user_id", None) == user.pk and not (token is not None and token.privsep):
        return True
    return has_privilege(user, "Sys.Modify", f"/nodes/{task.node.name}")



