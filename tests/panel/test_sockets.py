"""Websockets through a real daphne (session cookie, Origin, the authentication middleware) follow their user:
a deactivated user or withdrawn right closes the socket, a new grant is pushed, one user keeps a bounded number
of sockets; a viewer is pushed exactly what their grant allows; a foreign Origin is refused."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
import websockets
from django.utils import timezone
from websockets.exceptions import ConnectionClosed, InvalidStatus

from cluster.events import publish_node_changed
from tasks.models import Task
from tasks.upid import new_upid
from tests.factories import AdminFactory, GuestFactory, NodeFactory, PoolFactory, UserFactory, grant
from tests.support import PREFIX, logged_in, post_form, serve_asgi, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def connect(server: str, path: str, cookie: str):
    return websockets.connect(server.replace("http://", "ws://") + path, open_timeout=20,
                              additional_headers={"Cookie": cookie, "Origin": server})


async def closed_with(socket, timeout: float = 20) -> int:
    """The close code of ``socket``, once the server closes it (messages on the way are read)."""
    async def drain() -> None:
        with contextlib.suppress(ConnectionClosed):
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
            with pytest.raises(InvalidStatus):
                await connect(server, "/ws/tasks/", cookie)
            await sockets[0].close()
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
        except InvalidStatus:
            assert asyncio.get_running_loop().time() < deadline, "a closed socket was never counted out"
            await asyncio.sleep(0.2)


def online_node(name: str):
    return NodeFactory(name=name, last_seen=timezone.now(), cpus=2, memory_total=4 << 30,
                       engines={"docker": {"ok": True}, "libvirt": {"ok": True}})


async def next_message(socket, kind: str, timeout: float = 20) -> dict:
    """The next message of ``kind`` ("task", "resources"...): a socket may also get others (a list sent again)."""
    async def read() -> dict:
        while True:
            message = json.loads(await socket.recv())
            if message["type"] == kind:
                return message
    return await asyncio.wait_for(read(), timeout)


def test_a_viewer_is_pushed_their_tasks_and_those_of_guests_they_may_audit_and_nothing_else(asgi_server: str) -> None:
    """A PVEVMUser of a pool on ws/tasks/: their own task, root's task on a guest of the pool; never root's task
    on a guest outside it. Each push follows from a page action over the same server; the last one allowed is
    the barrier: the layer delivers a group's messages in order, so what came before it and was not sent is
    withheld, not late."""
    node = online_node("pushnode")
    pool = PoolFactory(name="push-pool")
    mine, ours = (GuestFactory(node=node, pool=pool, name=f"{PREFIX}push-{n}", state="stopped", backend_id=f"b{n}")
                  for n in (1, 2))
    outside = GuestFactory(node=node, name=f"{PREFIX}push-outside", state="stopped", backend_id="b3")
    viewer, root = UserFactory(username="push-viewer"), AdminFactory(username="push-root")
    grant(viewer, "PVEVMUser", pool.path)
    viewer_session, root_session = logged_in(asgi_server, viewer.username), logged_in(asgi_server, root.username)
    cookie = f"sessionid={viewer_session.cookies['sessionid']}"

    def start(session, guest) -> None:
        url = f"{asgi_server}/guests/{guest.vmid}/start/"
        response = post_form(session, url, {})
        assert response.status_code == 302 and response.headers["Location"].startswith("/tasks/UPID:"), \
            response.text[:300]

    async def scenario() -> None:
        async with connect(asgi_server, "/ws/tasks/", cookie) as tasks:
            assert (await next_message(tasks, "tasks"))["tasks"] == []
            await asyncio.to_thread(start, viewer_session, mine)
            first = await next_message(tasks, "task")
            await asyncio.to_thread(start, root_session, outside)
            await asyncio.to_thread(start, root_session, ours)
            second = await next_message(tasks, "task")
            assert (first["task"]["id"], first["task"]["user"]) == (str(mine.vmid), "push-viewer@pam")
            assert (second["task"]["id"], second["task"]["user"]) == (str(ours.vmid), "push-root@pam")
            outside_task = await asyncio.to_thread(lambda: Task.objects.get(vmid=outside.vmid).upid)
            assert outside_task not in json.dumps([first, second])

    asyncio.run(scenario())


def test_the_resources_socket_pushes_a_viewer_only_what_they_may_see(asgi_server: str) -> None:
    """A PVEVMUser of a pool on ws/cluster/resources/: the pool's guests, no node, nothing of a node where
    they see nothing (not even its name, when that node polls)."""
    node, hidden = online_node("resnode"), online_node("reshidden")
    pool = PoolFactory(name="res-pool")
    mine = GuestFactory(node=node, pool=pool, name=f"{PREFIX}res-mine", state="running")
    GuestFactory(node=node, name=f"{PREFIX}res-other", state="running")
    GuestFactory(node=hidden, name=f"{PREFIX}res-far", state="running")
    viewer = UserFactory(username="res-viewer")
    grant(viewer, "PVEVMUser", pool.path)
    cookie = session_cookie(asgi_server, viewer.username)

    async def scenario() -> None:
        async with connect(asgi_server, "/ws/cluster/resources/", cookie) as resources:
            first = await next_message(resources, "resources")
            assert [r["id"] for r in first["data"]] == [mine.resource_id]
            await asyncio.to_thread(publish_node_changed, hidden.name)  # a poll of the node they see nothing of
            await asyncio.to_thread(publish_node_changed, node.name)  # the barrier: theirs
            pushed = await next_message(resources, "resources")
            assert (pushed["node"], [r["id"] for r in pushed["data"]]) == (node.name, [mine.resource_id])
            for text in (json.dumps(first), json.dumps(pushed)):
                assert hidden.name not in text and "res-other" not in text and "res-far" not in text

    asyncio.run(scenario())


def test_a_socket_from_a_foreign_origin_is_refused(asgi_server: str) -> None:
    """The Origin validator daphne runs: a page of another site may not open a socket with the user's cookie."""
    user = UserFactory()
    grant(user, "PVEAuditor", "/")
    cookie = session_cookie(asgi_server, user.username)
    url = asgi_server.replace("http://", "ws://") + "/ws/tasks/"

    async def scenario() -> None:
        for origin in ("http://evil.example", "http://127.0.0.1.evil.example", "null"):
            with pytest.raises(InvalidStatus) as refused:
                await websockets.connect(url, open_timeout=20, additional_headers={"Cookie": cookie,
                                                                                   "Origin": origin})
            assert refused.value.response.status_code == 403, origin
        async with connect(asgi_server, "/ws/tasks/", cookie) as socket:  # the same cookie from the panel's page
            assert (await next_message(socket, "tasks"))["type"] == "tasks"

    asyncio.run(scenario())
