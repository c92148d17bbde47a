"""Path converters with bounds: a number in a URL never overflows the database's integer columns."""

from __future__ import annotations


class BoundedInt:
    regex = "[0-9]{1,9}"  # below 2**31: a VMID, a row id of an integer column

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


class GuestKindPath:
    """Proxmox's word for a kind of guest in paths: qemu (VMs) or lxc (containers)."""

    regex = "qemu|lxc"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class RowId(BoundedInt):
    regex = "[0-9]{1,18}"  # below 2**63: a row id of a big-integer column
