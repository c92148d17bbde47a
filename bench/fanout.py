"""Live fan-out: the web server's CPU time (its process's user + system time, read with psutil) to answer one
poll's publish with 1, 100 and 500 subscribers of ``ws/cluster/resources/``, spread over 5 users of 5
permission sets (each sees its own pool of 100 seeded guests), and one task change with the same subscribers of
``ws/tasks/``. Counted from the publish until every socket has its message; each figure the best of REPEAT.
The cost at 500 against the cost at 1 (target: within 3x)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path

import psutil

from . import harness
from .harness import asgi_process, ratio_line

SUBSCRIBERS = (1, 100, 500)
USERS = 5
GUESTS = 100
REPEAT = 3
NODE = f"{harness.PREFIX}fan"
VMID_BASE = 880_000


def run() -> list[str]:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from access.models import AclEntry, Pool, builtin_role
    from cluster.events import publish_node_changed
    from guests.models import Guest
    from nodes.models import Node
    from panel.events import flush
    from tasks.events import publish_status
    from tasks.models import Task
    from tasks.upid import new_upid

    _clean()
    node = Node.objects.create(name=NODE, last_seen=timezone.now(), cpus=8, memory_total=32 << 30)
    pools = [Pool.objects.create(name=f"{NODE}-p{i}") for i in range(USERS)]
    Guest.objects.bulk_create([
        Guest(vmid=VMID_BASE + i, kind="ct", node=node, name=f"{NODE}-{i}", backend_id=f"{NODE}-{i}",
              state="running", pool=pools[i % USERS], vcpus=1, memory_mib=64)
        for i in range(GUESTS)])
    users = []
    for i, pool in enumerate(pools):
        user, _ = get_user_model().objects.get_or_create(username=f"{NODE}-u{i}")
        user.set_password("bench-password")
        user.save()
        AclEntry.objects.create(path=f"/pool/{pool.name}", role=builtin_role("PVEAuditor"), user=user)
        AclEntry.objects.create(path=f"/nodes/{NODE}", role=builtin_role("PVEAuditor"), user=user)
        users.append(user)
    owner = get_user_model().objects.get_or_create(username=f"{NODE}-owner")[0]
    # A node's task: each user sees it through Sys.Audit on the node, decided once per permission set.
    task = Task.objects.create(upid=new_upid(NODE, "startall", "", f"{owner.username}@pam"), node=node,
                               user=owner, type="startall")
    task = Task.objects.select_related("node", "user", "parent").get(pk=task.pk)
    lines = [f"fan-out of one event to N live sockets over {USERS} permission sets, web process CPU time "
             f"(best of {REPEAT})"]
    try:
        with asgi_process(PANEL_MAX_SOCKETS_PER_USER="1000") as (server, web):
            cookies = [harness.login(server, user.username) for user in users]
            process = psutil.Process(web.pid)
            for path, publish, wanted in (
                ("/ws/cluster/resources/", lambda: publish_node_changed(NODE),
                 lambda m: m.get("type") == "resources" and m.get("node") == NODE),
                ("/ws/tasks/", lambda: publish_status(task),
                 lambda m: m.get("type") == "task" and m["task"]["upid"] == task.upid),
            ):
                costs = {}
                for count in SUBSCRIBERS:
                    print(f"  ({path}: {count} subscriber(s)...)", file=sys.stderr, flush=True)
                    costs[count] = asyncio.run(_measure(server, cookies, path, count, publish, flush, wanted,
                                                        process))
                for count in SUBSCRIBERS:
                    lines.append(ratio_line(f"{path} one event, {count} subscriber(s)", costs[count] * 1000,
                                            costs[1] * 1000, "ms"))
    finally:
        _clean()
    return lines


async def _measure(server, cookies, path, count, publish, flush, wanted, process) -> float:  # noqa: ANN001
    import websockets

    url = server.replace("http://", "ws://") + path
    sockets = []
    for i in range(count):
        socket = await websockets.connect(url, additional_headers={"Cookie": cookies[i % len(cookies)],
                                                                    "Origin": server}, open_timeout=60)
        await socket.recv()  # its first message
        sockets.append(socket)
    try:
        await asyncio.sleep(1)  # let the server settle
        best = float("inf")
        for _ in range(REPEAT):
            before = _cpu(process)
            await asyncio.to_thread(lambda: (publish(), flush()))
            await asyncio.gather(*(_until(socket, wanted) for socket in sockets))
            best = min(best, _cpu(process) - before)
            await asyncio.sleep(0.5)
        return best
    finally:
        await asyncio.gather(*(socket.close() for socket in sockets))


async def _until(socket, wanted) -> None:  # noqa: ANN001
    deadline = time.monotonic() + 60
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), deadline - time.monotonic()))
        if wanted(message):
            return


def _cpu(process: psutil.Process) -> float:
    """CPU seconds of all the process's threads, to the nanosecond (the scheduler's own account; psutil's
    times count in 10 ms ticks)."""
    total = 0
    for task in Path(f"/proc/{process.pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def _clean() -> None:
    from django.contrib.auth import get_user_model

    from access.models import Pool
    from guests.models import Guest
    from nodes.models import Node

    Guest.objects.filter(node__name=NODE).delete()
    Node.objects.filter(name=NODE).delete()
    Pool.objects.filter(name__startswith=f"{NODE}-p").delete()
    get_user_model().objects.filter(username__startswith=f"{NODE}-").delete()
