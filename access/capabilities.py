"""What a user holds, summed up as Proxmox's API answers it: the ``cap`` of a new ticket (for each part of the
tree, the privileges the user has somewhere in it) and /access/permissions (the privileges on each path)."""

from __future__ import annotations

import re

from . import permissions
from .choices import PRIVILEGES
from .models import AclEntry

# pve-access-control's compute_api_permission: which privileges each part of the tree reports, and its paths.
PARTS = {
    "vms": (re.compile(r"^(VM\.|Permissions\.Modify)"), ("/vms", "/pool")),
    "access": (re.compile(r"^((User|Group)\.|Permissions\.Modify)"), ("/access",)),
    "storage": (re.compile(r"^(Datastore\.|Permissions\.Modify)"), ("/storage",)),
    "nodes": (re.compile(r"^(Sys\.|Permissions\.Modify)"), ("/nodes",)),
    "sdn": (re.compile(r"^(SDN\.|Permissions\.Modify)"), ("/sdn",)),
    "dc": (re.compile(r"^(Sys\.Audit|Sys\.Modify|SDN\.)"), ("/",)),
    "mapping": (re.compile(r"^(Mapping\.|Permissions\.Modify)"), ("/mapping",)),
}


def acl_paths() -> list[str]:
    """Every path with an ACL entry, and ``/``."""
    return sorted({"/", *AclEntry.objects.values_list("path", flat=True).distinct()})


# A guest's or a node's path names it: listed only to who may see it (a VMID's existence is no one else's).
SEEING = (("/vms/", "VM.Audit"), ("/nodes/", "Sys.Audit"))


def permission_map(user: permissions.User, paths: list[str] | None = None) -> dict[str, dict[str, int]]:
    """``{path: {privilege: 1}}`` for ``paths`` (every ACL path by default) where the user holds something."""
    result = {}
    for path in paths if paths is not None else acl_paths():
        held = permissions.privileges(user, path)
        if paths is None and any(path.startswith(prefix) and needed not in held for prefix, needed in SEEING):
            continue
        if held:
            result[path] = {p: 1 for p in sorted(held)}
    return result


def capabilities(user: permissions.User) -> dict[str, dict[str, int]]:
    """The ``cap`` of /access/ticket: for each part of the tree, what the user holds on it or anywhere below."""
    everywhere = permission_map(user)
    cap = {}
    for part, (pattern, roots) in PARTS.items():
        held: set[str] = set()
        for path, privileges in everywhere.items():
            if path == "/" or any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots):
                held |= {p for p in privileges if pattern.match(p)}
        for root in roots:
            held |= {p for p in permissions.privileges(user, root) if pattern.match(p)}
        cap[part] = {p: 1 for p in sorted(held) if p in PRIVILEGES}
    return cap
