"""Console sockets through a real daphne, on the real engines: a container's shell runs what is typed and
follows a resize; who lacks VM.Console (or Sys.Console for a node's shell) is refused before any data, and
an open console is hung up when the right is withdrawn."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re

import psutil
import pytest
import websockets
from channels.db import database_sync_to_async
from websockets.exceptions import ConnectionClosed

from access.models import AuditEntry
from guests.services import move_to_pool
from tests.factories import AdminFactory, NodeFactory, PoolFactory, UserFactory, grant
from tests.support import session_cookie, wait_until

from .guests import running_container

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.engines]


def connect(server: str, path: str, cookie: str, **options):
    return websockets.connect(server.replace("http://", "ws://") + path, open_timeout=20,
                              additional_headers={"Cookie": cookie, "Origin": server}, **options)


async def read_until(socket, pattern: bytes, timeout: float = 30) -> bytes:
    """The terminal's output up to the first match of ``pattern``; every frame must be binary."""
    seen = b""

    async def read() -> bytes:
        nonlocal seen
        while not re.search(pattern, seen):
            frame = await socket.recv()
            assert isinstance(frame, bytes), f"a text frame from the server: {frame!r}"
            seen += frame
        return seen

    try:
        return await asyncio.wait_for(read(), timeout)
    except TimeoutError:
        raise AssertionError(f"{pattern!r} not in the output within {timeout:g} s: {seen[-2000:]!r}") from None


async def refused(socket, timeout: float = 20) -> tuple[int, list]:
    """The close code of a socket the server closes, with every frame it sent before."""
    frames = []

    async def drain() -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in socket:
                frames.append(frame)

    await asyncio.wait_for(drain(), timeout)
    return socket.close_code, frames


@pytest.fixture
def container_guest(docker_client):
    """A running container of the busybox template on the local node, and its guest row."""
    with running_container(docker_client, "console") as made:
        yield made


def execs_running(docker_client, container) -> list[str]:
    container.reload()
    return [e for e in container.attrs.get("ExecIDs") or [] if docker_client.api.exec_inspect(e)["Running"]]


def test_a_container_shell_runs_what_is_typed_and_follows_a_resize(asgi_server: str, container_guest) -> None:
    guest, _container = container_guest
    cookie = session_cookie(asgi_server, AdminFactory(username="root").username)

    async def scenario() -> None:
        async with connect(asgi_server, f"/ws/guests/{guest.vmid}/console/", cookie) as socket:
            await socket.send(json.dumps({"resize": [100, 30]}))
            await socket.send(b"echo hi-$RANDOM-marker\n")
            await read_until(socket, rb"\nhi-\d+-marker")  # its output, not the echo of what was typed
            await socket.send(json.dumps({"resize": [123, 45]}))
            await socket.send(b"stty size\n")
            await read_until(socket, rb"\n45 123\r?\n")
            await socket.send("printf 'out-\\303\\251-'; printf 'é' | od -An -tx1\n".encode())  # bytes both ways
            await read_until(socket, rb"out-\xc3\xa9-(?s:.)*c3 a9")
            # A flood comes whole and in order: 2 MB of output, then the mark.
            await socket.send(b"head -c 2000000 /dev/zero | tr '\\000' x; echo; echo flood-$((1+1))-end\n")
            flood = await read_until(socket, rb"[\r\n]flood-2-end", timeout=120)
            assert re.search(rb"[\r\n]x{2000000}\r\n", flood)
            await socket.send(b"exit\n")
            assert (await refused(socket))[0] == 1000  # the shell ended: so does the socket

    asyncio.run(scenario())
    entries = AuditEntry.objects.filter(action="guest.console")
    assert [(e.result, e.object, e.username) for e in entries] == [("ok", str(guest), "root@pam")]
    assert entries[0].address == "127.0.0.1"


def test_no_console_without_vm_console_and_no_data_before_the_refusal(asgi_server: str, container_guest,
                                                                       docker_client) -> None:
    guest, container = container_guest
    auditor = UserFactory(username="con-auditor")
    grant(auditor, "PVEAuditor", "/")  # sees the guest, may not use its console
    cookie = session_cookie(asgi_server, auditor.username)

    async def scenario() -> None:
        async with connect(asgi_server, f"/ws/guests/{guest.vmid}/console/", cookie) as socket:
            with contextlib.suppress(ConnectionClosed):  # typed before the refusal arrived: it never runs
                await socket.send(b"echo should-never-run > /tmp/x\n")
            assert await refused(socket) == (4403, [])  # not a frame, not even the reason
        async with connect(asgi_server, "/ws/guests/999999999/console/", cookie) as socket:
            assert await refused(socket) == (4404, [])

    asyncio.run(scenario())
    container.reload()
    assert not container.attrs.get("ExecIDs")  # nothing ran in the container
    assert [(e.result, e.username) for e in AuditEntry.objects.filter(action="guest.console")] == [
        ("denied", "con-auditor@pam")]


def test_a_stopped_container_has_no_shell(asgi_server: str, container_guest) -> None:
    guest, container = container_guest
    container.stop(timeout=1)
    cookie = session_cookie(asgi_server, AdminFactory(username="root").username)

    async def scenario() -> None:
        async with connect(asgi_server, f"/ws/guests/{guest.vmid}/console/", cookie) as socket:
            code, frames = await refused(socket)
            assert code == 4409 and len(frames) == 1
            assert "is not running" in json.loads(frames[0])["error"]

    asyncio.run(scenario())


def test_withdrawing_vm_console_hangs_up_an_open_shell(asgi_server: str, container_guest, docker_client) -> None:
    guest, container = container_guest
    user = UserFactory(username="con-user")
    entry = grant(user, "PVEVMUser", f"/vms/{guest.vmid}")
    cookie = session_cookie(asgi_server, user.username)

    async def scenario() -> None:
        async with connect(asgi_server, f"/ws/guests/{guest.vmid}/console/", cookie) as socket:
            await socket.send(b"echo open-$((40+2))\n")
            await read_until(socket, rb"\nopen-42")
            assert await asyncio.to_thread(execs_running, docker_client, container)
            await database_sync_to_async(entry.delete)()
            assert (await refused(socket))[0] == 4403

    asyncio.run(scenario())
    wait_until(lambda: not execs_running(docker_client, container), 20, "the hung-up shell to end")


def test_moving_the_guest_out_of_the_users_pool_hangs_up_its_shell(asgi_server: str, container_guest) -> None:
    """The right follows the guest's pool: the socket reads the guest again when access changes."""
    guest, _container = container_guest
    pool = PoolFactory(name="con-pool")
    type(guest).objects.filter(pk=guest.pk).update(pool=pool)
    user, root = UserFactory(username="con-pooluser"), AdminFactory(username="root")
    grant(user, "PVEVMUser", pool.path)
    cookie = session_cookie(asgi_server, user.username)

    async def scenario() -> None:
        async with connect(asgi_server, f"/ws/guests/{guest.vmid}/console/", cookie) as socket:
            await socket.send(b"echo pool-$((3*3))\n")
            await read_until(socket, rb"[\r\n]pool-9")
            current = await database_sync_to_async(type(guest).objects.select_related("node", "pool").get)(pk=guest.pk)
            await database_sync_to_async(move_to_pool)(root, current, None)
            assert (await refused(socket))[0] == 4403

    asyncio.run(scenario())


def test_a_node_shell_needs_sys_console(asgi_server: str) -> None:
    node = NodeFactory()
    auditor = UserFactory(username="shell-auditor")
    grant(auditor, "PVEAuditor", "/")  # Sys.Audit, not Sys.Console
    cookie = session_cookie(asgi_server, auditor.username)

    async def scenario() -> None:
        async with connect(asgi_server, f"/ws/nodes/{node.name}/shell/", cookie) as socket:
            with contextlib.suppress(ConnectionClosed):
                await socket.send(b"id\n")
            assert await refused(socket) == (4403, [])

    asyncio.run(scenario())
    assert [(e.result, e.object) for e in AuditEntry.objects.filter(action="node.shell")] == [
        ("denied", f"node {node.name}")]


def test_root_gets_a_login_shell_on_the_node_that_follows_a_resize(asgi_server: str) -> None:
    node = NodeFactory()
    cookie = session_cookie(asgi_server, AdminFactory(username="root").username)

    async def scenario() -> None:
        async with connect(asgi_server, f"/ws/nodes/{node.name}/shell/", cookie) as socket:
            await socket.send(json.dumps({"resize": [91, 27]}))
            await socket.send(b"echo me-$(id -un)-$((6*7)); stty size\n")
            await read_until(socket, rb"[\r\n]me-root-42\r?\n27 91\r?\n")
            await socket.send(b"exit\n")
            assert (await refused(socket))[0] == 1000
        # A page closed with the shell running a command: both end.
        async with connect(asgi_server, f"/ws/nodes/{node.name}/shell/", cookie) as socket:
            await socket.send(b"sleep 600 & echo pids-$$-$!-end\n")
            found = re.search(rb"[\r\n]pids-(\d+)-(\d+)-end", await read_until(socket, rb"[\r\n]pids-\d+-\d+-end"))
            pids.extend(int(pid) for pid in found.groups())

    pids: list[int] = []
    asyncio.run(scenario())
    wait_until(lambda: not any(psutil.pid_exists(pid) for pid in pids), 20, f"the shell and its job {pids} to end")


def test_who_is_not_root_gets_a_login_prompt_and_loses_it_with_sys_console(asgi_server: str) -> None:
    """Proxmox's rule: Sys.Console gives a node's login prompt; only root@pam is logged in as root."""
    node = NodeFactory()
    user = UserFactory(username="shell-admin")
    entry = grant(user, "PVESysAdmin", f"/nodes/{node.name}")
    cookie = session_cookie(asgi_server, user.username)

    async def scenario() -> None:
        async with connect(asgi_server, f"/ws/nodes/{node.name}/shell/", cookie) as socket:
            await read_until(socket, rb"login: $")
            assert logins_of_this_process()
            await database_sync_to_async(entry.delete)()
            assert (await refused(socket))[0] == 4403

    asyncio.run(scenario())
    wait_until(lambda: not logins_of_this_process(), 20, "the hung-up login to end")


def logins_of_this_process() -> list:
    """``login`` processes a panel server started (the node shells of the tests' servers)."""
    import psutil

    found = []
    for process in psutil.process_iter(["name", "ppid", "cmdline", "status"]):
        if process.info["name"] == "login" and process.info["status"] != psutil.STATUS_ZOMBIE:
            with contextlib.suppress(psutil.Error):
                if "panel.asgi:application" in psutil.Process(process.info["ppid"]).cmdline():
                    found.append(process.pid)
    return found


def test_a_node_elsewhere_has_its_shell_served_there(asgi_server: str) -> None:
    """The web process runs a shell only on its own machine: node2 here (127.0.0.1) yes, a far node no."""
    near = NodeFactory(name="shell-near", address="127.0.0.1")
    far = NodeFactory(name="shell-far", address="192.0.2.7")  # TEST-NET-1: never this machine
    cookie = session_cookie(asgi_server, AdminFactory(username="root").username)

    async def scenario() -> None:
        async with connect(asgi_server, f"/ws/nodes/{near.name}/shell/", cookie) as socket:
            await socket.send(b"echo near-$((1+1))\n")
            await read_until(socket, rb"[\r\n]near-2\r?\n")
        async with connect(asgi_server, f"/ws/nodes/{far.name}/shell/", cookie) as socket:
            code, frames = await refused(socket)
            assert code == 4503
            assert json.loads(frames[0])["error"] == "the shell of node shell-far is served by the panel on that node"

    asyncio.run(scenario())


BAD_CONTROLS = ['{"resize": [0, 24]}', '{"resize": [80, 1001]}', '{"resize": [80]}', '{"resize": [80.5, 24]}',
                '{"resize": [true, 24]}', '{"size": [80, 24]}', '[80, 24]', 'not json']


def test_a_bad_control_message_closes_the_shell_with_the_reason(asgi_server: str, container_guest,
                                                                docker_client) -> None:
    guest, container = container_guest
    cookie = session_cookie(asgi_server, AdminFactory(username="root").username)

    async def scenario(control: str) -> None:
        async with connect(asgi_server, f"/ws/guests/{guest.vmid}/console/", cookie) as socket:
            await socket.send(control)
            code, frames = await refused(socket)
            assert code == 4400, control
            error = json.loads(next(f for f in frames if isinstance(f, str)))["error"]
            assert "columns" in error and "rows" in error

    for control in BAD_CONTROLS:
        asyncio.run(scenario(control))
    wait_until(lambda: not execs_running(docker_client, container), 20, "the shells to be hung up")
