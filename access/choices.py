"""Privileges and the built-in roles, exactly as Proxmox VE 9 defines them (pve-access-control's
``$privgroups``), so that roles read through the API and granted in ACLs mean what Proxmox users expect.
The panel checks the privileges its features need; the others exist so that roles keep their meaning."""

_GROUPS: dict[str, dict[str, list[str]]] = {
    # category: {"root": only in Administrator, "admin": ..., "user": ..., "audit": ...}
    "VM": {
        "admin": ["VM.Allocate", "VM.Clone", "VM.Config.CPU", "VM.Config.Disk", "VM.Config.HWType",
                  "VM.Config.Memory", "VM.Config.Network", "VM.Config.Options", "VM.GuestAgent.Unrestricted",
                  "VM.Migrate", "VM.Replicate", "VM.Snapshot", "VM.Snapshot.Rollback"],
        "user": ["VM.Backup", "VM.Config.CDROM", "VM.Config.Cloudinit", "VM.Console", "VM.GuestAgent.FileRead",
                 "VM.GuestAgent.FileSystemMgmt", "VM.GuestAgent.FileWrite", "VM.PowerMgmt"],
        "audit": ["VM.Audit", "VM.GuestAgent.Audit"],
    },
    "Sys": {
        "root": ["Sys.AccessNetwork", "Sys.Incoming", "Sys.Modify", "Sys.PowerMgmt"],
        "admin": ["Sys.Console", "Sys.Syslog"],
        "audit": ["Sys.Audit"],
    },
    "Datastore": {
        "admin": ["Datastore.Allocate", "Datastore.AllocateTemplate"],
        "user": ["Datastore.AllocateSpace"],
        "audit": ["Datastore.Audit"],
    },
    "SDN": {"admin": ["SDN.Allocate"], "user": ["SDN.Use"], "audit": ["SDN.Audit"]},
    "User": {"root": ["Realm.Allocate"], "admin": ["Group.Allocate", "Realm.AllocateUser", "User.Modify"]},
    "Pool": {"admin": ["Pool.Allocate"], "audit": ["Pool.Audit"]},
    "Mapping": {"admin": ["Mapping.Modify"], "user": ["Mapping.Use"], "audit": ["Mapping.Audit"]},
}
_ROOT_ONLY = ["Permissions.Modify"]


def _of(category: str, *levels: str) -> list[str]:
    return [p for level in levels for p in _GROUPS[category].get(level, [])]


PRIVILEGES = sorted({p for group in _GROUPS.values() for level in group.values() for p in level} | set(_ROOT_ONLY))
PRIVILEGE_CHOICES = [(p, p) for p in PRIVILEGES]

BUILTIN_ROLES: dict[str, list[str]] = {
    "Administrator": list(PRIVILEGES),
    # Every category's admin, user and audit privileges; never the root-only ones, nor Mapping.Modify.
    "PVEAdmin": sorted(p for c in _GROUPS for p in _of(c, "admin", "user", "audit") if p != "Mapping.Modify"),
    "PVEAuditor": sorted(p for c in _GROUPS for p in _of(c, "audit")),
    "PVETemplateUser": ["VM.Audit", "VM.Clone"],
    "NoAccess": [],
}
for _category, _name in (("VM", "VM"), ("Sys", "Sys"), ("Datastore", "Datastore"), ("SDN", "SDN"),
                         ("User", "User"), ("Pool", "Pool"), ("Mapping", "Mapping")):
    BUILTIN_ROLES[f"PVE{_name}Admin"] = sorted(_of(_category, "admin", "user", "audit"))
    if _GROUPS[_category].get("user"):
        BUILTIN_ROLES[f"PVE{_name}User"] = sorted(_of(_category, "user", "audit"))
BUILTIN_ROLES["PVEPoolUser"] = sorted(_of("Pool", "audit"))  # Pool has no user privileges, but the role exists
BUILTIN_ROLES = dict(sorted(BUILTIN_ROLES.items()))
NO_ACCESS = "NoAccess"

# Guest actions and the privilege each needs on the guest's path.
ACTION_PRIVILEGE = {
    "start": "VM.PowerMgmt", "shutdown": "VM.PowerMgmt", "stop": "VM.PowerMgmt", "reboot": "VM.PowerMgmt",
    "suspend": "VM.PowerMgmt", "resume": "VM.PowerMgmt", "reset": "VM.PowerMgmt",
    "delete": "VM.Allocate", "migrate": "VM.Migrate", "console": "VM.Console",
}
