"""Privileges and the built-in roles, as Proxmox VE defines them (restricted to what this panel does)."""

PRIVILEGES = [
    "Sys.Audit", "Sys.Modify", "Sys.PowerMgmt",
    "VM.Audit", "VM.PowerMgmt", "VM.Console", "VM.Config", "VM.Allocate", "VM.Migrate", "VM.Snapshot",
    "VM.Backup",
    "Datastore.Audit", "Datastore.Allocate",
    "Pool.Audit", "Pool.Allocate",
    "Permissions.Modify", "User.Modify",
]
PRIVILEGE_CHOICES = [(p, p) for p in PRIVILEGES]

VM_PRIVILEGES = [p for p in PRIVILEGES if p.startswith("VM.")]

BUILTIN_ROLES: dict[str, list[str]] = {
    "Administrator": list(PRIVILEGES),
    # Everything but system settings and permissions (Proxmox: no Sys.PowerMgmt, Sys.Modify, Permissions.Modify).
    "PVEAdmin": [p for p in PRIVILEGES if p not in {"Sys.PowerMgmt", "Sys.Modify", "Permissions.Modify"}],
    "PVEVMAdmin": list(VM_PRIVILEGES),
    "PVEVMUser": ["VM.Audit", "VM.Backup", "VM.Console", "VM.PowerMgmt"],
    "PVEAuditor": ["Datastore.Audit", "Pool.Audit", "Sys.Audit", "VM.Audit"],
    "PVEPoolAdmin": ["Pool.Allocate", "Pool.Audit"],
    "NoAccess": [],
}
NO_ACCESS = "NoAccess"

# Guest actions and the privilege each needs on the guest's path.
ACTION_PRIVILEGE = {
    "start": "VM.PowerMgmt", "shutdown": "VM.PowerMgmt", "stop": "VM.PowerMgmt", "reboot": "VM.PowerMgmt",
    "suspend": "VM.PowerMgmt", "resume": "VM.PowerMgmt",
    "delete": "VM.Allocate", "migrate": "VM.Migrate", "console": "VM.Console",
}
