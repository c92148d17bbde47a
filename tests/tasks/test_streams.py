"""Task logs and the task list over websockets: backlog then live lines, nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from channels.db import database_sync_to_async as sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from panel.routing import websocket_urlpatterns
from tasks.choices import TaskStatus
from tasks.context import TaskContext
from tasks.models import Task
from tasks.upid import new_upid
from tasks.worker import finish
from tests.factories import AdminFactory, NodeFactory, UserFactory
from tests.support import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

router = URLRouter(websocket_urlpatterns)


def running_task(user=None) -> Task:
    node = NodeFactory()
    task = Task.objects.create(upid=new_upid(node.name, "startall", "", "root@pam"), node=node, user=user,
                               type="startall", status=TaskStatus.RUNNING, started_at=timezone.now())
    return Task.objects.select_related("node", "user", "parent").get(pk=task.pk)


async def connect(path: str, user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(router, path)
    communicator.scope["user"] = user
    return communicator


async def receive_lines(communicator: WebsocketCommunicator, count: int) -> list[int]:
    numbers = []
    while len(numbers) < count:
        message = await communicator.receive_json_from(timeout=10)
        if message["type"] == "line":
            numbers.append(message["n"])
    return numbers


def test_backlog_then_live_then_status_with_the_test_communicator() -> None:
    admin = AdminFactory()
    task = running_task(admin)
    context = TaskContext(task)
    for i in range(5):
        context.log(f"line {i + 1}")

    async def scenario() -> None:
        early = await connect(f"/ws/tasks/{task.upid}/log/", admin)
        assert (await early.connect())[0]
        assert await receive_lines(early, 5) == [1, 2, 3, 4, 5]
        await sync_to_async(context.log)("line 6")
        await sync_to_async(context.log)("line 7")
        assert await receive_lines(early, 2) == [6, 7]

        late = await connect(f"/ws/tasks/{task.upid}/log/?start=3", admin)
        assert (await late.connect())[0]
        assert await receive_lines(late, 4) == [4, 5, 6, 7]

        await sync_to_async(context.log)("line 8")
        await sync_to_async(finish)(task, TaskStatus.OK, "OK")
        for communicator in (early, late):
            assert await receive_lines(communicator, 1) == [8]
            status = await communicator.receive_json_from(timeout=10)
            assert status["type"] == "status" and status["task"]["status"] == "ok"
            assert (await communicator.receive_output(timeout=5))["type"] == "websocket.close"

        finished = await connect(f"/ws/tasks/{task.upid}/log/", admin)
        assert (await finished.connect())[0]
        assert await receive_lines(finished, 8) == list(range(1, 9))
        assert (await finished.receive_json_from(timeout=10))["task"]["exitstatus"] == "OK"

    asyncio.run(scenario())


def test_a_lost_message_is_filled_from_the_database() -> None:
    admin = AdminFactory()
    task = running_task(admin)
    context = TaskContext(task)
    context.log("line 1")

    async def scenario() -> None:
        communicator = await connect(f"/ws/tasks/{task.upid}/log/", admin)
        await communicator.connect()
        assert await receive_lines(communicator, 1) == [1]
        # Line 2 is stored but its message never arrives; line 3's message reveals the gap.
        from tasks.models import TaskLogLine

        await sync_to_async(TaskLogLine.objects.create)(task=task, number=2, at=timezone.now(), text="quiet")
        context._next_line = 3
        await sync_to_async(context.log)("line 3")
        assert await receive_lines(communicator, 2) == [2, 3]
        await communicator.disconnect()

    asyncio.run(scenario())


def test_sockets_refuse_who_may_not_see_the_task() -> None:
    owner, stranger = UserFactory(), UserFactory()
    task = running_task(owner)

    async def scenario() -> None:
        from django.contrib.auth.models import AnonymousUser

        for user in (stranger, AnonymousUser()):
            communicator = await connect(f"/ws/tasks/{task.upid}/log/", user)
            connected, code = await communicator.connect()
            assert not connected and code == 4403
        anonymous_list = await connect("/ws/tasks/", AnonymousUser())
        assert not (await anonymous_list.connect())[0]
        mine = await connect(f"/ws/tasks/{task.upid}/log/", owner)
        assert (await mine.connect())[0]
        await mine.disconnect()

    asyncio.run(scenario())


def test_task_list_pushes_changes_only_to_those_who_may_see_them() -> None:
    admin, user = AdminFactory(), UserFactory()
    theirs = running_task(AdminFactory())

    async def scenario() -> None:
        admin_socket, user_socket = await connect("/ws/tasks/", admin), await connect("/ws/tasks/", user)
        assert (await admin_socket.connect())[0] and (await user_socket.connect())[0]
        assert [t["upid"] for t in (await admin_socket.receive_json_from(timeout=10))["tasks"]] == [theirs.upid]
        assert (await user_socket.receive_json_from(timeout=10))["tasks"] == []
        await sync_to_async(finish)(theirs, TaskStatus.ERROR, "boom")
        pushed = await admin_socket.receive_json_from(timeout=10)
        assert pushed["task"]["upid"] == theirs.upid and pushed["task"]["status"] == "error"
        assert await user_socket.receive_nothing(timeout=1)
        await admin_socket.disconnect()
        await user_socket.disconnect()

    asyncio.run(scenario())


VIEWERS = 50
LINES = 40


def test_fifty_viewers_on_a_real_server_get_every_line_in_order(asgi_server: str) -> None:
    admin = AdminFactory()
    task = running_task(admin)
    context = TaskContext(task)
    for i in range(10):
        context.log(f"before {i}")
    cookie = session_cookie(asgi_server, admin.username)
    url = asgi_server.replace("http://", "ws://") + f"/ws/tasks/{task.upid}/log/"

    async def viewer(start_after: float) -> list[int]:
        await asyncio.sleep(start_after)  # some join early, some late
        numbers = []
        headers = {"Cookie": cookie, "Origin": asgi_server}
        async with websockets.connect(url, additional_headers=headers, open_timeout=30) as ws:
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "line":
                    numbers.append(message["n"])
                elif message["type"] == "status" and message["task"]["status"] == "ok":
                    break
        return numbers

    async def writer() -> None:
        await asyncio.sleep(0.5)
        for i in range(LINES):
            await sync_to_async(context.log)(f"live {i}")
            await asyncio.sleep(0.02)
        await sync_to_async(finish)(task, TaskStatus.OK, "OK")

    async def scenario() -> list[list[int]]:
        # Joins spread over the first second (a burst of 50 handshakes at once overflows the listen
        # backlog of a lone daphne): the writer starts at 0.5 s, so half of them join while it writes.
        viewers = [viewer(0.02 * i) for i in range(VIEWERS)]
        results = await asyncio.gather(writer(), *viewers)
        return results[1:]

    expected = list(range(1, 10 + LINES + 1))
    for numbers in asyncio.run(scenario()):
        assert numbers == expected


def test_a_late_viewer_of_a_long_log_gets_its_latest_lines_and_how_many_came_before() -> None:
    from tasks.consumers import BACKLOG_CAP
    from tasks.models import TaskLogLine

    admin = AdminFactory()
    task = running_task(admin)
    total = BACKLOG_CAP + 30
    TaskLogLine.objects.bulk_create(TaskLogLine(task=task, number=n, at=timezone.now(), text=f"line {n}")
                                    for n in range(1, total + 1))
    context = TaskContext(task)

    async def scenario() -> None:
        late = await connect(f"/ws/tasks/{task.upid}/log/", admin)
        assert (await late.connect())[0]
        assert await late.receive_json_from(timeout=10) == {"type": "older", "lines": 30}
        assert await receive_lines(late, BACKLOG_CAP) == list(range(31, total + 1))
        await sync_to_async(context.log)("live")
        assert await receive_lines(late, 1) == [total + 1]

        resuming = await connect(f"/ws/tasks/{task.upid}/log/?start=10", admin)  # a client that has lines 1-10
        assert (await resuming.connect())[0]
        assert await receive_lines(resuming, total + 1 - 10) == list(range(11, total + 2))
        for communicator in (late, resuming):
            await communicator.disconnect()

    asyncio.run(scenario())
