"""Proxmox VE 9's built-in roles as its documentation and pve-access-control list them, written out here
by hand: the tests hold the code's own table (access/choices.py) to this, never to itself."""

VM_ADMIN = {
    "VM.Allocate", "VM.Audit", "VM.Backup", "VM.Clone", "VM.Config.CDROM", "VM.Config.CPU", "VM.Config.Cloudinit",
    "VM.Config.Disk", "VM.Config.HWType", "VM.Config.Memory", "VM.Config.Network", "VM.Config.Options",
    "VM.Console", "VM.GuestAgent.Audit", "VM.GuestAgent.FileRead", "VM.GuestAgent.FileSystemMgmt",
    "VM.GuestAgent.FileWrite", "VM.GuestAgent.Unrestricted", "VM.Migrate", "VM.PowerMgmt", "VM.Replicate",
    "VM.Snapshot", "VM.Snapshot.Rollback",
}
VM_USER = {
    "VM.Audit", "VM.Backup", "VM.Config.CDROM", "VM.Config.Cloudinit", "VM.Console", "VM.GuestAgent.Audit",
    "VM.GuestAgent.FileRead", "VM.GuestAgent.FileSystemMgmt", "VM.GuestAgent.FileWrite", "VM.PowerMgmt",
}
AUDITOR = {"Datastore.Audit", "Mapping.Audit", "Pool.Audit", "SDN.Audit", "Sys.Audit", "VM.Audit",
           "VM.GuestAgent.Audit"}
PVE_ADMIN = VM_ADMIN | {
    "Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate", "Datastore.Audit",
    "Group.Allocate", "Mapping.Audit", "Mapping.Use", "Pool.Allocate", "Pool.Audit", "Realm.AllocateUser",
    "SDN.Allocate", "SDN.Audit", "SDN.Use", "Sys.Audit", "Sys.Console", "Sys.Syslog", "User.Modify",
}
ADMINISTRATOR = PVE_ADMIN | {"Mapping.Modify", "Permissions.Modify", "Realm.Allocate", "Sys.AccessNetwork",
                             "Sys.Incoming", "Sys.Modify", "Sys.PowerMgmt"}

ROLES: dict[str, set[str]] = {
    "Administrator": ADMINISTRATOR,
    "PVEAdmin": PVE_ADMIN,
    "PVEVMAdmin": VM_ADMIN,
    "PVEVMUser": VM_USER,
    "PVEAuditor": AUDITOR,
    "PVEDatastoreAdmin": {"Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate",
                          "Datastore.Audit"},
    "PVEDatastoreUser": {"Datastore.AllocateSpace", "Datastore.Audit"},
    "PVEPoolAdmin": {"Pool.Allocate", "Pool.Audit"},
    "PVEPoolUser": {"Pool.Audit"},
    "PVESysAdmin": {"Sys.Audit", "Sys.Console", "Sys.Syslog"},
    "PVEUserAdmin": {"Group.Allocate", "Realm.AllocateUser", "User.Modify"},
    "PVESDNAdmin": {"SDN.Allocate", "SDN.Audit", "SDN.Use"},
    "PVESDNUser": {"SDN.Audit", "SDN.Use"},
    "PVEMappingAdmin": {"Mapping.Audit", "Mapping.Modify", "Mapping.Use"},
    "PVEMappingUser": {"Mapping.Audit", "Mapping.Use"},
    "PVETemplateUser": {"VM.Audit", "VM.Clone"},
    "NoAccess": set(),
}
