"""Nobody gives themselves or anyone else more than they hold.

Every change of who may do what (an ACL entry, a role's privileges, a group membership, a password set for
someone else) is judged by what it would give: for each subject it touches, the privileges gained on each
path (before -> after, resolved exactly as access/permissions.py does) must all be held by the one making the
change, on that path. Superusers (root@pam) are changed by superusers only.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from itertools import product

from panel.errors import Forbidden

from . import permissions
from .permissions import Grant, Resolver, User, chain_of

# The objects a grant can reach without an entry of their own: a node, a storage, a group, a pool.
_PLACEHOLDERS = ["/nodes/-", "/storage/-", "/access/groups/-", "/pool/-"]


def targets(grants: Iterable[Grant]) -> dict[str, Resolver]:
    """Everything on which ``grants`` may resolve differently, named, with how to resolve it: each entry's
    own path, the objects below the levels it sits on, and each guest (a VMID with entries, or any other)
    outside pools and in each pool with entries."""
    grants = list(grants)
    paths = {*_PLACEHOLDERS, *(g.path for g in grants)}
    pools = sorted({g.path.removeprefix("/pool/") for g in grants if g.path.startswith("/pool/")})
    vms = sorted({g.path.removeprefix("/vms/") for g in grants if g.path.startswith("/vms/")} | {"-"})
    result: dict[str, Resolver] = {path: partial(permissions.resolve, chain=chain_of(path)) for path in paths}
    for vmid, pool in product(vms, [None, *pools]):
        name = f"/vms/{vmid}" + (f" (in pool {pool})" if pool else "")
        result[name] = partial(permissions.resolve_guest, vmid=vmid, pool=pool)
    return result


def check_no_gain(actor: User, before: list[Grant], after: list[Grant], what: str) -> None:
    """Refuse ``what`` if it gives, on anything, a privilege ``actor`` does not hold there."""
    if permissions.is_root(actor):
        return
    for name, resolver in sorted(targets([*before, *after]).items()):
        gained = resolver(after) - resolver(before)
        missing = gained - permissions.privileges_by(actor, resolver)
        if missing:
            raise Forbidden(f"you may not {what}: it would give {', '.join(sorted(missing))} on {name}, "
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
