"""Delay from a log line written through the worker's log API to its arrival at websocket clients watching the
task (daphne + Channels + Redis), for one viewer and for 50, against the bare Channels layer round trip as
baseline, and the p95 at 50 viewers against its target (15 ms)."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time

from .harness import NODE, ROOT, login, ratio_line

LINES = 300
INTERVAL = 0.01
VIEWERS = (1, 50)
P95_TARGET_MS = 15
VIEWER_PROCESSES = 2  # as many as the machine has cores: the viewers' own work is not the server's delay


def _stats(delays: list[float]) -> tuple[float, float]:
    delays = sorted(delays)
    return statistics.median(delays), delays[int(len(delays) * 0.95) - 1]


def run(server: str) -> list[str]:
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

    def panel(viewers: int) -> list[float]:
        """Every line's delay at every viewer, the viewers in VIEWER_PROCESSES processes of their own."""
        url = server.replace("http://", "ws://") + f"/ws/tasks/{task.upid}/log/"
        counts = [viewers // VIEWER_PROCESSES + (i < viewers % VIEWER_PROCESSES) for i in range(VIEWER_PROCESSES)]
        watchers = [subprocess.Popen([sys.executable, "-m", "bench.viewers", url, cookie, server, str(count)],
                                     cwd=ROOT, stdout=subprocess.PIPE, text=True)
                    for count in counts if count]
        try:
            for watcher in watchers:
                assert watcher.stdout.readline().strip() == "ready", "a viewer process did not start"
            first = context._next_line
            written: dict[int, float] = {}
            time.sleep(0.5)
            for i in range(LINES):
                written[first + i] = time.monotonic()
                context.log(f"line {i}")
                time.sleep(INTERVAL)
            finish(task, "ok", "OK")
            delays = []
            for watcher in watchers:
                arrivals = json.loads(watcher.stdout.readline())
                watcher.wait(timeout=60)
                for n, times in arrivals.items():
                    if int(n) in written:
                        delays += [t - written[int(n)] for t in times]
            return delays
        finally:
            for watcher in watchers:
                watcher.kill()

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

    results = {}
    for viewers in VIEWERS:
        Task.objects.filter(pk=task.pk).update(status="running", ended_at=None)
        task.status = "running"
        results[viewers] = _stats(panel(viewers))
    bare_median, bare_p95 = _stats(asyncio.run(bare_layer()))
    Task.objects.filter(pk=task.pk).delete()
    lines = [
        f"log line latency, {LINES} lines every {INTERVAL * 1000:.0f} ms, to 1 and to {VIEWERS[-1]} viewers "
        f"(target: p95 within {P95_TARGET_MS} ms at {VIEWERS[-1]})",
        ratio_line("bare Channels layer group_send -> receive, median (baseline)", bare_median * 1000,
                   bare_median * 1000, "ms"),
        ratio_line("bare Channels layer, p95", bare_p95 * 1000, bare_p95 * 1000, "ms"),
    ]
    for viewers, (median, p95) in results.items():
        lines += [
            ratio_line(f"log API -> DB -> layer -> daphne -> {viewers} viewer(s), median", median * 1000,
                       bare_median * 1000, "ms"),
            ratio_line(f"log API -> DB -> layer -> daphne -> {viewers} viewer(s), p95", p95 * 1000,
                       bare_p95 * 1000, "ms"),
        ]
    lines.append(ratio_line(f"p95 at {VIEWERS[-1]} viewers against its target", results[VIEWERS[-1]][1] * 1000,
                            P95_TARGET_MS, "ms"))
    return lines
