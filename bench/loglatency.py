"""Delay from a log line written through the worker's log API to its arrival at a websocket client
(daphne + Channels + Redis), against the bare Channels layer round trip as baseline."""

from __future__ import annotations

import asyncio
import json
import statistics
import time

from .harness import NODE, login, ratio_line

LINES = 300
INTERVAL = 0.01


def _stats(delays: list[float]) -> tuple[float, float]:
    delays = sorted(delays)
    return statistics.median(delays), delays[int(len(delays) * 0.95) - 1]


def run(server: str) -> list[str]:
    import websockets
    from asgiref.sync import sync_to_async
    from channels.layers import get_channel_layer
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from nodes.models import Node
    from tasks.context import TaskContext
    from tasks.models import Task
    from tasks.upid import new_upid
    from tasks.worker import finish

    node, _ = Node.objects.update_or_create(name=NODE, defaults={"accelerator": "qemu"})
    cookie = login(server)
    user = get_user_model().objects.get(username="bench")
    task = Task.objects.create(upid=new_upid(NODE, "bench", "", "bench@pam"), node=node, user=user,
                               type="startall", status="running", started_at=timezone.now())
    task = Task.objects.select_related("node", "user", "parent").get(pk=task.pk)
    context = TaskContext(task)

    async def panel() -> list[float]:
        delays: list[float] = []
        written: dict[int, float] = {}
        url = server.replace("http://", "ws://") + f"/ws/tasks/{task.upid}/log/"
        async with websockets.connect(url, additional_headers={"Cookie": cookie, "Origin": server}) as ws:

            async def write() -> None:
                for i in range(LINES):
                    written[i + 1] = time.monotonic()
                    await sync_to_async(context.log)(f"line {i}")
                    await asyncio.sleep(INTERVAL)
                await sync_to_async(finish)(task, "ok", "OK")

            writer = asyncio.create_task(write())
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "line":
                    delays.append(time.monotonic() - written[message["n"]])
                elif message["type"] == "status" and message["task"]["status"] == "ok":
                    break
            await writer
        return delays

    async def bare_layer() -> list[float]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add("bench", channel)
        delays = []
        for i in range(LINES):
            sent = time.monotonic()
            await layer.group_send("bench", {"type": "line", "n": i})
            await layer.receive(channel)
            delays.append(time.monotonic() - sent)
            await asyncio.sleep(INTERVAL)
        return delays

    panel_median, panel_p95 = _stats(asyncio.run(panel()))
    bare_median, bare_p95 = _stats(asyncio.run(bare_layer()))
    Task.objects.filter(pk=task.pk).delete()
    return [
        f"log line latency, {LINES} lines every {INTERVAL * 1000:.0f} ms, one viewer",
        ratio_line("bare Channels layer group_send -> receive, median (baseline)", bare_median * 1000,
                   bare_median * 1000, "ms"),
        ratio_line("bare Channels layer, p95", bare_p95 * 1000, bare_p95 * 1000, "ms"),
        ratio_line("log API -> DB -> layer -> daphne -> websocket, median", panel_median * 1000,
                   bare_median * 1000, "ms"),
        ratio_line("log API -> DB -> layer -> daphne -> websocket, p95", panel_p95 * 1000, bare_p95 * 1000, "ms"),
    ]

