"""Consoles as the web process opens them: check the privilege, audit, open the terminal.

A guest's console (a container's shell, a VM's serial line) needs VM.Console on the guest, Proxmox's
privilege for vncproxy and termproxy; a node's shell needs Sys.Console on ``/nodes/<name>``. The web process
talks to the node's engine itself, as Proxmox's termproxy does on the node: the guest's node gives the
Docker URL or libvirt URI. A node's shell runs on this machine, so only for a node that is this machine.
A socket asks again (``may_keep_*``) whenever access changes, and hangs up when the answer is no.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

import psutil
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from access import permissions
from access.audit import at_address, audited
from drivers.base import GuestDriver
from drivers.errors import DriverError, EngineUnavailable, GuestNotFound, InvalidGuestState
from drivers.registry import shared_driver
from drivers.terminal import MAX_COLUMNS, MAX_ROWS, Terminal
from guests.models import Guest, GuestQuerySet
from guests.services import check_node_ready
from nodes.models import Node
from panel.errors import Conflict, Forbidden, InvalidRequest, NodeUnavailable, NotFound, Refused

from .host_shell import HostShell, login_command

GUEST_CONSOLE = "VM.Console"
NODE_CONSOLE = "Sys.Console"


@dataclass
class Session:
    """An open console: what it is on (a guest or a node) and its terminal."""

    subject: Guest | Node
    terminal: Terminal


@contextmanager
def engine_errors() -> Iterator[None]:
    """A driver's failure as the error a user reads."""
    try:
        yield
    except InvalidGuestState as exc:
        raise Conflict(exc.message) from exc
    except GuestNotFound as exc:
        raise Conflict(f"{exc.message}: the node has not reported it gone yet") from exc
    except EngineUnavailable as exc:
        raise NodeUnavailable(exc.message) from exc
    except DriverError as exc:
        raise Refused(exc.message) from exc


# -- guests -------------------------------------------------------------------------------------------


def console_guest(user: AbstractBaseUser, vmid: int) -> Guest:
    """The guest whose console ``user`` asks for; NotFound for who may neither see it nor use its console."""
    guest = Guest.objects.select_related("node", "pool").filter(vmid=vmid).first()
    if guest is None or not (permissions.has_guest_privilege(user, GuestQuerySet.audit_privilege, guest)
                             or permissions.has_guest_privilege(user, GUEST_CONSOLE, guest)):
        raise NotFound(f"guest {vmid} does not exist")
    return guest


def may_use_console(user: AbstractBaseUser, guest: Guest) -> bool:
    return permissions.has_guest_privilege(user, GUEST_CONSOLE, guest)


def check_may_use_console(user: AbstractBaseUser, guest: Guest) -> None:
    if not may_use_console(user, guest):
        raise Forbidden(f"you may not use the console of {guest} ({GUEST_CONSOLE} is needed)")


def open_guest_console(user: AbstractBaseUser, vmid: int, address: str | None = None) -> Session:
    """The console of guest ``vmid``: a shell in a container, the serial line of a VM."""
    return _open_on_guest(user, vmid, address, "guest.console",
                          lambda driver, backend_id: driver.open_console(backend_id))


def open_guest_display(user: AbstractBaseUser, vmid: int, address: str | None = None) -> Session:
    """The graphical display of VM ``vmid`` (its VNC server, for noVNC): Proxmox's vncproxy, VM.Console too."""
    return _open_on_guest(user, vmid, address, "guest.vnc",
                          lambda driver, backend_id: driver.open_display(backend_id))


def _open_on_guest(user: AbstractBaseUser, vmid: int, address: str | None, action: str,
                   opener: Callable[[GuestDriver, str], Terminal]) -> Session:
    guest = console_guest(user, vmid)
    with at_address(address), audited(user, action, guest):
        check_may_use_console(user, guest)
        if not guest.backend_id:
            raise Conflict(f"{guest} is still being created")
        check_node_ready(guest.node, guest.kind)
        with engine_errors():
            terminal = opener(shared_driver(guest.node.endpoints, guest.kind), guest.backend_id)
    return Session(guest, terminal)


def may_keep_guest_console(user: AbstractBaseUser, guest: Guest) -> bool:
    """Does ``user`` still hold VM.Console on the guest, as it is now (its pool may have changed)?"""
    current = Guest.objects.select_related("pool").filter(pk=guest.pk, node_id=guest.node_id).first()
    return current is not None and may_use_console(user, current)


# -- nodes --------------------------------------------------------------------------------------------


@cache
def _own_addresses() -> frozenset[str]:
    return frozenset(a.address.split("%")[0] for addresses in psutil.net_if_addrs().values() for a in addresses)


def is_this_machine(node: Node) -> bool:
    """Is ``node`` the machine this web process runs on (its node, or a node at one of its addresses)?"""
    if node.name == settings.PANEL_NODE_NAME:
        return True
    try:
        address = ipaddress.ip_address(node.address)
    except ValueError:
        return False
    return address.is_loopback or str(address) in _own_addresses()


def node_path(node: Node) -> str:
    return f"/nodes/{node.name}"


def shell_node(user: AbstractBaseUser, name: str) -> Node:
    node = Node.objects.filter(name=name).first()
    if node is None or not (permissions.has_privilege(user, "Sys.Audit", node_path(node))
                            or permissions.has_privilege(user, NODE_CONSOLE, node_path(node))):
        raise NotFound(f"node {name} does not exist")
    return node


def may_use_shell(user: AbstractBaseUser, node: Node) -> bool:
    return permissions.has_privilege(user, NODE_CONSOLE, node_path(node))


def check_may_use_shell(user: AbstractBaseUser, node: Node) -> None:
    if not may_use_shell(user, node):
        raise Forbidden(f"you may not use the shell of node {node.name} ({NODE_CONSOLE} is needed)")


def open_node_shell(user: AbstractBaseUser, name: str, address: str | None = None) -> Session:
    """A login on node ``name``: as root for root@pam, else ``login`` asks for a system account (Proxmox's
    rule: there is no privilege that makes a panel user root on the node)."""
    node = shell_node(user, name)
    with at_address(address), audited(user, "node.shell", f"node {node.name}"):
        check_may_use_shell(user, node)
        if not is_this_machine(node):
            raise NodeUnavailable(f"the shell of node {node.name} is served by the panel on that node")
        try:
            terminal = HostShell(login_command(as_root=permissions.is_root(user)))
        except OSError as exc:
            raise Refused(f"cannot start a shell on node {node.name}: {exc.strerror}") from exc
    return Session(node, terminal)


def may_keep_node_shell(user: AbstractBaseUser, node: Node) -> bool:
    return may_use_shell(user, node)


# -- what a client sends ------------------------------------------------------------------------------


def terminal_size(value: object) -> tuple[int, int]:
    """``[columns, rows]`` as a client sends it, within bounds."""
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in value)):
        raise InvalidRequest("a size is [columns, rows], two whole numbers")
    columns, rows = value
    if not (1 <= columns <= MAX_COLUMNS and 1 <= rows <= MAX_ROWS):
        raise InvalidRequest(f"a terminal has 1 to {MAX_COLUMNS} columns and 1 to {MAX_ROWS} rows")
    return columns, rows
