"""A VM's serial console over the console socket: libvirt's console stream of a real tiny-linux VM booting
under QEMU, its boot text and then its shell."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from tests.factories import AdminFactory
from tests.support import session_cookie

from .guests import defined_vm
from .test_sockets import connect, read_until, refused

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.engines, pytest.mark.vm]

VMID = 9700


@pytest.fixture
def vm_guest(storage_dir) -> Iterator[tuple]:
    with defined_vm("serial", VMID) as made:
        yield made


def test_the_serial_console_shows_the_boot_and_runs_the_guests_shell(asgi_server: str, vm_guest) -> None:
    guest, driver = vm_guest
    cookie = session_cookie(asgi_server, AdminFactory(username="root").username)

    async def scenario() -> None:
        async with connect(asgi_server, f"/ws/guests/{guest.vmid}/console/", cookie) as socket:
            await refused_while_stopped(socket)
        await asyncio.to_thread(driver.start, guest.backend_id)
        async with connect(asgi_server, f"/ws/guests/{guest.vmid}/console/", cookie) as socket:
            await socket.send(json.dumps({"resize": [80, 24]}))  # a serial line has no size: taken, no effect
            await read_until(socket, rb"panel-guest: ready", timeout=120)  # the kernel's and init's text
            await socket.send(b"\recho vm-$((6*7))-serial\r")
            await read_until(socket, rb"[\r\n]vm-42-serial\r?\n")
        # Opened again (a reloaded page): the line is taken over, the guest's shell is still there.
        async with connect(asgi_server, f"/ws/guests/{guest.vmid}/console/", cookie) as socket:
            await socket.send(b"echo again-$((2*3))\r")
            await read_until(socket, rb"[\r\n]again-6\r?\n")
        # Its display, as noVNC opens it: QEMU's VNC server greets with its RFB version; it offers no
        # authentication (it listens on the node's loopback only, and libvirt hands the socket over).
        async with connect(asgi_server, f"/ws/guests/{guest.vmid}/vnc/", cookie, subprotocols=["binary"]) as vnc:
            assert vnc.subprotocol == "binary"
            assert await read_until(vnc, rb"^RFB 003\.00\d\n$") == b"RFB 003.008\n"
            await vnc.send(b"RFB 003.008\n")
            assert (await read_until(vnc, rb"^\x01\x01$")) == b"\x01\x01"  # one security type: None

    async def refused_while_stopped(socket) -> None:
        code, frames = await refused(socket)
        assert code == 4409 and "is not running" in json.loads(frames[0])["error"]

    asyncio.run(scenario())
