"""A task with 100,000 log lines against one with 100: the task page, the API's log page
(``/api2/json/nodes/{node}/tasks/{upid}/log``, its default start and limit) and a late websocket viewer (from
its connect to the task's final status: its capped backlog). Each the best of REPEAT, over the real server;
target: within 2x of the same for 100 lines."""

from __future__ import annotations

import asyncio
import json
import time

from . import harness
from .harness import asgi_process, ratio_line

SIZES = (100, 100_000)
REPEAT = 5
NODE = f"{harness.PREFIX}log"


def run() -> list[str]:
    import requests
    import websockets
    from django.db import connection
    from django.utils import timezone

    from nodes.models import Node
    from tasks.models import Task, TaskLogLine
    from tasks.upid import new_upid

    Node.objects.filter(name=NODE).delete()
    node = Node.objects.create(name=NODE, last_seen=timezone.now())
    tasks = {}
    for size in SIZES:
        task = Task.objects.create(upid=new_upid(NODE, "startall", "", "root@pam"), node=node, type="startall",
                                   status="ok", exit_message="OK", started_at=timezone.now(),
                                   ended_at=timezone.now())
        now = timezone.now()
        TaskLogLine.objects.bulk_create((TaskLogLine(task=task, number=n, at=now, text=f"line {n} of the log")
                                         for n in range(1, size + 1)), batch_size=5000)
        tasks[size] = task
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tasks_tasklogline")  # as autovacuum would after such a load
    times: dict[tuple[str, int], float] = {}
    try:
        with asgi_process() as (server, _web):
            cookie = harness.login(server)
            session = requests.Session()
            session.headers["Cookie"] = cookie

            def best(what: str, size: int, measure) -> None:  # noqa: ANN001
                measure()  # warm
                runs = []
                for _ in range(REPEAT):
                    started = time.monotonic()
                    measure()
                    runs.append(time.monotonic() - started)
                times[(what, size)] = min(runs)

            async def late_viewer(upid: str) -> None:
                url = server.replace("http://", "ws://") + f"/ws/tasks/{upid}/log/"
                async with websockets.connect(url, additional_headers={"Cookie": cookie, "Origin": server},
                                              max_size=None) as ws:
                    async for raw in ws:
                        if json.loads(raw)["type"] == "status":
                            return

            for size, task in tasks.items():
                page = f"{server}/tasks/{task.upid}/"
                api = f"{server}/api2/json/nodes/{NODE}/tasks/{task.upid}/log"
                best("task page", size, lambda page=page: session.get(page, timeout=60).raise_for_status())
                best("API log page", size, lambda api=api: session.get(api, timeout=60).raise_for_status())
                best("late websocket viewer, backlog to status", size,
                     lambda upid=task.upid: asyncio.run(late_viewer(upid)))
    finally:
        Node.objects.filter(name=NODE).delete()
    lines = [f"a task log of {SIZES[-1]:,} lines against one of {SIZES[0]} (best of {REPEAT}; target within 2x)"]
    for what in ("task page", "API log page", "late websocket viewer, backlog to status"):
        small, large = times[(what, SIZES[0])], times[(what, SIZES[-1])]
        lines.append(ratio_line(f"{what}, {SIZES[0]} lines (baseline)", small * 1000, small * 1000, "ms"))
        lines.append(ratio_line(f"{what}, {SIZES[-1]:,} lines", large * 1000, small * 1000, "ms"))
    return lines
