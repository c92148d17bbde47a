"""Limits and naming rules of the engines, in one place: the panel's forms and validators import them from here
without loading an engine library, and the drivers check every request against the same rules.
"""

from __future__ import annotations

import re

from .errors import InvalidSpec

MAX_DISK_GIB = 4096  # the largest disk the panel makes for a VM
MAX_MEMORY_MIB = 4 * 1024 * 1024  # 4 TiB: Proxmox's largest VM memory
MAX_VCPUS = 512
ACCELERATORS = ("kvm", "qemu")  # libvirt domain types: kvm (hardware virtualisation), qemu (TCG software emulation)
DOCKER_MIN_MEMORY_MIB = 6  # the Docker engine refuses a memory limit below 6 MiB

# A Linux network interface name (IFNAMSIZ): what a bridge may be called. \Z, not $: $ also matches before a
# final newline.
BRIDGE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}\Z")

# An ISO image in a node's storage, in ISO_DIR under its storage directory (Proxmox's template/iso of "local").
ISO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,200}\.(iso|img)\Z")
ISO_DIR = "template/iso"

# A VM's network: the node's (its bridge when it has one, else QEMU's user networking), NAT, or none.
VM_NETWORKS = {"": "the node's network", "user": "NAT (QEMU user networking)", "none": "no network device"}

# A guest name: a host name of '.'-separated labels (letters, digits, inner '-'), at most 63 characters in all.
# Docker's container names ([a-zA-Z0-9][a-zA-Z0-9_.-]*) and libvirt's domain names (any text) both take it, and the
# guest can use its name as its host name.
GUEST_NAME = re.compile(
    r"^(?=.{1,63}\Z)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\Z", re.IGNORECASE
)
GUEST_NAME_RULE = ("a host name: letters, digits, '-' and '.', starting and ending with a letter or digit, "
                   "at most 63 characters")


def check_guest_name(name: str, what: str) -> None:
    """Raise InvalidSpec unless ``name`` follows GUEST_NAME; ``what`` is 'VM' or 'container'."""
    if not GUEST_NAME.match(name):
        raise InvalidSpec(f"'{name}' is not a valid {what} name: use {GUEST_NAME_RULE}")


def check_bridge_name(bridge: str) -> None:
    if not BRIDGE_NAME.match(bridge):
        raise InvalidSpec(f"'{bridge}' is not a valid bridge name (1 to 15 letters, digits, '.', '_', '-')")

# A snapshot name: Proxmox's pve-configid (a letter, then letters, digits, '-' and '_'), at most 40 characters.
# Reserved as in Proxmox: 'current' names the guest's present state in its snapshot lists, 'pending' (VMs) its
# changes waiting for the next start, 'vzdump' (containers) the snapshot a backup takes.
SNAPSHOT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}\Z")
SNAPSHOT_NAME_RULE = "a letter, then letters, digits, '-' and '_', at most 40 characters"
RESERVED_SNAPSHOT_NAMES = frozenset({"current", "pending", "vzdump"})
# What XML 1.0 cannot carry (libvirt keeps a VM snapshot's description in XML): control characters but tab and
# new lines, lone surrogates, and the two non-characters U+FFFE and U+FFFF.
NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
MAX_SNAPSHOT_DESCRIPTION = 8 * 1024  # Proxmox keeps a description in the guest's config file, as ours in a label


def check_snapshot_name(name: str) -> None:
    """Raise InvalidSpec unless ``name`` may name a snapshot."""
    if not isinstance(name, str) or not SNAPSHOT_NAME.match(name):
        raise InvalidSpec(f"'{name}' is not a valid snapshot name: use {SNAPSHOT_NAME_RULE}")
    if name.lower() in RESERVED_SNAPSHOT_NAMES:
        raise InvalidSpec(f"'{name}' is reserved and cannot name a snapshot")


def check_snapshot_description(description: str) -> None:
    if len(description) > MAX_SNAPSHOT_DESCRIPTION:
        raise InvalidSpec(f"a snapshot description is at most {MAX_SNAPSHOT_DESCRIPTION} characters, "
                          f"not {len(description)}")
    if NOT_IN_XML.search(description):
        raise InvalidSpec("a snapshot description cannot hold control characters (other than tabs and new lines)")
