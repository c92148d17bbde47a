"""Nobody gives themselves or anyone else more than they hold.

Every change of who may do what (an ACL entry, a role's privileges, a group membership, a password set for
someone else) is judged by what it would give: for each subject it touches, the privileges gained on each
path (before -> after, resolved exactly as access/permissions.py does) must all be held by the one making the
change, on that path. Superusers (root@pam) are changed by superusers only.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import product

from panel.errors import Forbidden

from . import permissions
from .permissions import Grant, User, chain_of

# The objects a grant can reach without an entry of their own: a guest, a node, a storage, a group.
_PLACEHOLDERS = [("/", "/vms", "/vms/-"), ("/", "/nodes", "/nodes/-"), ("/", "/storage", "/storage/-"),
                 ("/", "/access", "/access/groups", "/access/groups/-"), ("/", "/pool", "/pool/-")]


def chains(grants: Iterable[Grant]) -> set[tuple[str, ...]]:
    """Every chain on which ``grants`` may resolve differently: each entry's own path, the objects below
    the levels it sits on, and a guest's chain through each pool combined with each VMID."""
    grants = list(grants)
    result = set(_PLACEHOLDERS)
    pools = {g.path for g in grants if g.path.startswith("/pool/")}
    vms = {g.path for g in grants if g.path.startswith("/vms/")}
    for grant in grants:
        result.add(tuple(chain_of(grant.path)))
    for pool in pools:
        result.add(("/", "/vms", pool, "/vms/-"))
    for pool, vm in product(pools, vms):
        result.add(("/", "/vms", pool, vm))
    return result


def check_no_gain(actor: User, before: list[Grant], after: list[Grant], what: str) -> None:
    """Refuse ``what`` if it gives, on any path, a privilege ``actor`` does not hold there."""
    if permissions.is_root(actor):
        return
    for chain in sorted(chains([*before, *after])):
        gained = permissions.resolve(after, list(chain)) - permissions.resolve(before, list(chain))
        missing = gained - permissions.privileges_on_chain(actor, list(chain))
        if missing:
            raise Forbidden(f"you may not {what}: it would give {', '.join(sorted(missing))} on {chain[-1]}, "
                            "which you do not hold")


def check_may_change_user(actor: User, target: object, what: str) -> None:
    """Superusers are changed by superusers only."""
    if getattr(target, "is_superuser", False) and not permissions.is_root(actor):
        raise Forbidden(f"you may not {what}: only a superuser may change a superuser")


def check_holds_at_most(actor: User, target: object, what: str) -> None:
    """``what`` would let ``actor`` act as ``target`` (a password set): refuse unless ``target`` holds no
    privilege ``actor`` lacks."""
    check_may_change_user(actor, target, what)
    check_no_gain(actor, [], permissions.grants_of(target.pk), what)
