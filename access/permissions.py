"""The one place that decides what a user (or an API token) may see and do.

Proxmox's model: a role is a set of privileges; an ACL entry grants a role on a path to a user, a group or
a token. To resolve the privileges of a user on a path, walk the path from ``/`` down to it; at every level
with entries that apply (entries on an intermediate level apply only when they propagate), those entries
replace what came from above; on one level the user's own entries override those of their groups, and
NoAccess denies everything. A guest's chain is ``/``, ``/vms``, ``/pool/<its pool>``, ``/vms/<vmid>``.
Superusers are ``root@pam`` and have every privilege. A privilege-separated API token has what its own ACL
entries grant, never more than its user.

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


def guest_chain(vmid: int, pool: str | None) -> list[str]:
    return ["/", "/vms", *([f"/pool/{pool}"] if pool else []), f"/vms/{vmid}"]


def _level(grants: list[Grant], path: str, final: bool) -> frozenset[str] | None:
    """The privileges the entries on ``path`` give, or None when no entry applies there."""
    here = [g for g in grants if g.path == path and (final or g.propagate)]
    if not here:
        return None
    users = [g for g in here if g.kind == "user"]
    chosen = users or here  # the user's own entries override their groups'
    if any(g.role == NO_ACCESS for g in chosen):
        return frozenset()
    return frozenset().union(*(g.privileges for g in chosen))


def resolve(grants: list[Grant], chain: list[str]) -> frozenset[str]:
    """The privileges ``grants`` give on the last path of ``chain``."""
    result: frozenset[str] = frozenset()
    for index, path in enumerate(chain):
        level = _level(grants, path, index == len(chain) - 1)
        if level is not None:
            result = level
    return result


def privileges_on_chain(user: User, chain: list[str]) -> set[str]:
    """Every privilege ``user`` has on the last path of ``chain``."""
    if not user.is_authenticated or not user.is_active:
        return set()
    token = api_token(user)
    mine = frozenset(PRIVILEGES) if user.is_superuser else resolve(_grants(user)[0], chain)
    if token is not None and token.privsep:
        return set(mine & resolve(_grants(user)[1] or [], chain))
    return set(mine)


def privileges(user: User, path: str) -> set[str]:
    """Every privilege ``user`` has on ``path``."""
    return privileges_on_chain(user, chain_of(path))


def has_privilege(user: User, privilege: str, path: str) -> bool:
    """May ``user`` do ``privilege`` on ``path`` (``/``, ``/nodes/pve1``, ``/vms/101``, ``/pool/a``...)?"""
    if privilege not in PRIVILEGES:
        raise ValueError(f"unknown privilege {privilege!r}")
    return privilege in privileges(user, path)


def has_guest_privilege(user: User, privilege: str, guest: GuardedGuest) -> bool:
    pool = guest.pool.name if guest.pool_id else None
    return privilege in privileges_on_chain(user, guest_chain(guest.vmid, pool))


def guest_condition(grants: list[Grant], privilege: str, prefix: str = "") -> Q:
    """A Q selecting the guests whose resolved privileges on their chain include ``privilege``; ``prefix``
    reaches the guest through a relation (``guest__``)."""
    # A guest without entries of its own or of its pool: what / and /vms give (neither is its final path).
    base = privilege in resolve(grants, ["/", "/vms", "/vms/-"])
    # Pools and VMIDs with entries of their own decide for their guests, the VMID before the pool.
    pools_yes, pools_no, vms_yes, vms_no = set(), set(), set(), set()
    for path in {g.path for g in grants}:
        if path.startswith("/pool/"):
            level = _level(grants, path, final=False)  # a pool is never the final path of a guest
            if level is not None:
                (pools_yes if privilege in level else pools_no).add(path.removeprefix("/pool/"))
        elif path.startswith("/vms/") and path[5:].isdigit():
            level = _level(grants, path, final=True)
            if level is not None:
                (vms_yes if privilege in level else vms_no).add(int(path[5:]))
    pool, vmid = f"{prefix}pool__name__in", f"{prefix}vmid__in"
    in_pool_yes = Q(**{pool: pools_yes}) if pools_yes else NOTHING
    unless_denied_by_pool = ~Q(**{pool: pools_no}) if pools_no else EVERYTHING
    q = unless_denied_by_pool if base else in_pool_yes
    if vms_no:
        q &= ~Q(**{vmid: vms_no})
    if vms_yes:
        q |= Q(**{vmid: vms_yes})
    return q


def node_condition(grants: list[Grant], privilege: str, prefix: str = "") -> Q:
    """A Q selecting the nodes whose resolved privileges on /nodes/<name> include ``privilege``."""
    base = privilege in resolve(grants, ["/", "/nodes", "/nodes/-"])
    yes, no = set(), set()
    for path in {g.path for g in grants if g.path.startswith("/nodes/")}:
        level = _level(grants, path, final=True)
        if level is not None:
            (yes if privilege in level else no).add(path.removeprefix("/nodes/"))
    name = f"{prefix}name__in"
    if base:
        return ~Q(**{name: no}) if no else EVERYTHING
    return Q(**{name: yes}) if yes else NOTHING


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



