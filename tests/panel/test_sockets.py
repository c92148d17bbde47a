"""Websockets through a real daphne follow their user: a deactivated user or withdrawn right closes the
socket, a new grant is pushed, and one user keeps a bounded number of sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
import websockets
from django.utils import timezone

from tasks.models import Task
from tasks.upid import new_upid
from tests.factories import GuestFactory, NodeFactory, UserFactory, grant
from tests.support import serve_asgi, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def connect(server: str, path: str, cookie: str):
    return websockets.connect(server.replace("http://", "ws://") + path, open_timeout=20,
                              additional_headers={"Cookie": cookie, "Origin": server})


async def closed_with(socket, timeout: float = 20) -> int:
    """The close code of ``socket``, once the server closes it (messages on the way are read)."""
    async def drain() -> None:
        with contextlib.suppress(websockets.exceptions.ConnectionClosed):
            async for _ in socket:
                pass
    await asyncio.wait_for(drain(), timeout)
    return socket.close_code


def running_task(node, user) -> Task:
    return Task.objects.create(upid=new_upid(node.name, "startall", "", "root@pam"), node=node, user=None,
                               type="startall", status="running", started_at=timezone.now())


def test_a_deactivated_user_loses_every_socket(asgi_server: str) -> None:
    node = NodeFactory(last_seen=timezone.now())
    user = UserFactory()
    grant(user, "PVEAuditor", "/")
    task = running_task(node, user)
    cookie = session_cookie(asgi_server, user.username)

    async def scenario() -> None:
        async with connect(asgi_server, "/ws/cluster/resources/", cookie) as resources, \
                connect(asgi_server, f"/ws/tasks/{task.upid}/log/", cookie) as log:
            await resources.recv()
            await asyncio.to_thread(type(user).objects.filter(pk=user.pk).update, is_active=False)
            await asyncio.to_thread(lambda: type(user).objects.get(pk=user.pk).save())  # the change is announced
            assert await closed_with(resources) == 4403
            assert await closed_with(log) == 4403

    asyncio.run(scenario())


def test_a_withdrawn_right_closes_the_log_and_a_new_grant_is_pushed(asgi_server: str) -> None:
    node = NodeFactory(last_seen=timezone.now())
    guest = GuestFactory(node=node, state="running")
    user = UserFactory()
    entry = grant(user, "PVEAuditor", "/nodes")
    task = running_task(node, user)
    cookie = session_cookie(asgi_server, user.username)

    async def scenario() -> None:
        async with connect(asgi_server, "/ws/cluster/resources/", cookie) as resources, \
                connect(asgi_server, f"/ws/tasks/{task.upid}/log/", cookie) as log:
            first = json.loads(await resources.recv())
            assert guest.resource_id not in {r["id"] for r in first["data"]}
            await asyncio.to_thread(grant, user, "PVEVMUser", "/vms")
            pushed = json.loads(await asyncio.wait_for(resources.recv(), 20))
            assert pushed["node"] is None and guest.resource_id in {r["id"] for r in pushed["data"]}
            await asyncio.to_thread(entry.delete)  # no more Sys.Audit: the node task is no longer theirs to see
            assert await closed_with(log) == 4403

    asyncio.run(scenario())


def test_one_user_keeps_a_bounded_number_of_sockets(live_database_url: str) -> None:
    user = UserFactory()
    with serve_asgi(live_database_url, PANEL_MAX_SOCKETS_PER_USER="3") as server:
        cookie = session_cookie(server, user.username)

        async def scenario() -> None:
            sockets = [await connect(server, "/ws/tasks/", cookie) for _ in range(3)]
            with pytest.raises(websockets.exceptions.InvalidStatus):
                await connect(server, "/ws/tasks/", cookie)
            await sockets[0].close()
            await asyncio.sleep(0)  # let the server see the close before the next one opens
            replacement = await connect_when_freed(server, cookie)
            for socket in [*sockets[1:], replacement]:
                await socket.close()

        asyncio.run(scenario())


async def connect_when_freed(server: str, cookie: str, timeout: float = 20):
    """A socket once the server counted a closed one out (it learns of the close asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await connect(server, "/ws/tasks/", cookie)
        except websockets.exceptions.InvalidStatus:
            assert asyncio.get_running_loop().time() < deadline, "a closed socket was never counted out"
            await asyncio.sleep(0.2)
