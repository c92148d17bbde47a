"""Proxmox VE's rules for resolving privileges, written for the tests from pve-access-control
(``PVE::AccessControl::roles``, ``PVE::RPCEnvironment::compile_acl_path`` and ``permissions``; see
/work/notes/proxmox-api/behaviour.md 4.3), over the role table of tests/access/proxmox_roles.py.

The tests hold the panel to these answers; nothing here reads access/permissions.py or access/choices.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from .proxmox_roles import ADMINISTRATOR, ROLES

NO_ACCESS = "NoAccess"


@dataclass(frozen=True)
class Acl:
    """One ACL entry as Proxmox keeps it: a role on a path for a user, a group (of the user) or a token."""

    path: str
    role: str
    subject: str  # "user", "group" (a group the user is in) or "token"
    propagate: bool = True


def levels(path: str) -> list[str]:
    """``/vms/101`` -> ``["/", "/vms", "/vms/101"]``: the nodes of the ACL tree walked from the root."""
    parts = [p for p in path.split("/") if p]
    return ["/"] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def roles(acls: list[Acl], path: str, token: bool = False) -> set[str]:
    """``roles()``: walk from ``/`` to ``path``; an entry applies on its own node, and below it when it
    propagates; each level that yields a role replaces what came from above; on one level a token's entries
    are the only ones for a token, a user's own override their groups'; NoAccess leaves nothing else."""
    result: set[str] = set()
    chain = levels(path)
    for index, level in enumerate(chain):
        final = index == len(chain) - 1
        here = [a for a in acls if a.path == level and (final or a.propagate)]
        for kind in (("token",) if token else ("user", "group")):
            chosen = {a.role for a in here if a.subject == kind}
            if chosen:
                result = chosen
                break
    return {NO_ACCESS} if NO_ACCESS in result else result


def privileges_of(acls: list[Acl], path: str, pool: str | None = None, token: bool = False,
                  custom: dict[str, set[str]] | None = None) -> frozenset[str]:
    """``compile_acl_path``: the roles on ``path``, plus, for a guest in ``pool``, the roles on ``/pool/<pool>``
    (unless the guest's own result is NoAccess; a NoAccess of the pool wins over the guest's roles)."""
    found = roles(acls, path, token)
    if pool is not None and path.startswith("/vms/") and NO_ACCESS not in found:
        of_pool = roles(acls, f"/pool/{pool}", token)
        found = {NO_ACCESS} if NO_ACCESS in of_pool else found | of_pool
    table = {**ROLES, **(custom or {})}
    return frozenset().union(*(table[r] for r in found)) if found != {NO_ACCESS} else frozenset()


@dataclass(frozen=True)
class Subject:
    """Who makes a request, and the entries that decide what they may: ``user_acls`` are the user's own and
    their groups'; ``token_acls`` those of the privilege-separated token they use (None: no token)."""

    label: str
    kind: str  # "anonymous", "root", "user", "group" or "token"
    user_acls: tuple[Acl, ...] = ()
    token_acls: tuple[Acl, ...] | None = None
    custom: tuple[tuple[str, frozenset[str]], ...] = ()

    @property
    def anonymous(self) -> bool:
        return self.kind == "anonymous"

    @property
    def root(self) -> bool:
        return self.kind == "root"

    @property
    def token(self) -> bool:
        return self.token_acls is not None

    def privileges(self, path: str, pool: str | None = None) -> frozenset[str]:
        """``permissions()``: root has everything; a separated token what its entries give, within its user's."""
        if self.anonymous:
            return frozenset()
        if self.root and not self.token:
            return frozenset(ADMINISTRATOR)
        custom = {name: set(privs) for name, privs in self.custom}
        mine = frozenset(ADMINISTRATOR) if self.root else privileges_of(list(self.user_acls), path, pool,
                                                                         custom=custom)
        if self.token_acls is None:
            return mine
        return mine & privileges_of(list(self.token_acls), path, pool, token=True, custom=custom)

    def has(self, privilege: str, path: str, pool: str | None = None) -> bool:
        return privilege in self.privileges(path, pool)
