"""Resident memory of the panel's processes after some work: the web server (daphne) after pages, API calls and
live sockets; the node's worker, all its processes, after a start-all and a stop-all of containers and a few
polls of its collector. Each figure against its target (web 150 MB, worker 250 MB) as a ratio."""

from __future__ import annotations

import asyncio
import time

from . import harness
from .harness import NODE, asgi_process, ratio_line, tree_rss, worker

COUNT = 20
SOCKETS = 20
PREFIX = f"{harness.PREFIX}m"
MB = 1024 * 1024
WEB_TARGET, WORKER_TARGET = 150, 250


def run() -> list[str]:
    import docker
    import requests
    import websockets

    from guests.models import Guest
    from nodes.models import Node
    from nodes.poll import poll_node
    from tasks.models import Task
    from tasks.services import submit

    client = docker.from_env()
    _cleanup(client)
    image = client.images.list(filters={"label": "panel.template=busybox"})[0].id
    for i in range(COUNT):
        client.containers.create(image, name=f"{PREFIX}{i}")
    node, _ = Node.objects.update_or_create(name=NODE, defaults={"accelerator": "qemu"})
    try:
        poll_node(NODE)
        vmids = list(Guest.objects.filter(node=node, name__startswith=PREFIX).values_list("vmid", flat=True))
        with asgi_process() as (server, web), worker(PANEL_POLL_INTERVAL="2") as node_worker:
            cookie = harness.login(server)
            session = requests.Session()
            session.headers["Cookie"] = cookie

            async def hold_sockets_while(work) -> None:  # noqa: ANN001
                ws_url = server.replace("http://", "ws://")
                headers = {"Cookie": cookie, "Origin": server}
                sockets = [await websockets.connect(f"{ws_url}{path}", additional_headers=headers)
                           for _ in range(SOCKETS // 2) for path in ("/ws/cluster/resources/", "/ws/tasks/")]
                try:
                    await asyncio.to_thread(work)
                    for socket in sockets:  # take what they were sent
                        while True:
                            try:
                                await asyncio.wait_for(socket.recv(), 0.2)
                            except TimeoutError:
                                break
                finally:
                    for socket in sockets:
                        await socket.close()

            def work() -> None:
                for path in ("/", "/guests/", f"/nodes/{NODE}/", "/api2/json/cluster/resources",
                             f"/api2/json/nodes/{NODE}/tasks", "/access/users/"):
                    session.get(server + path, timeout=30)
                for type_, params in (("startall", {"vms": vmids}),
                                      ("stopall", {"vms": vmids, "timeout": 1, "force_stop": True})):
                    poll_node(NODE)
                    task = submit(node, type_, None, params=params)
                    _wait_task(task)
                    assert task.status == "ok", task.exit_message
                    for path in ("/", f"/api2/json/nodes/{NODE}/tasks/{task.upid}/log", f"/tasks/{task.upid}/"):
                        session.get(server + path, timeout=30)
                time.sleep(5)  # a few polls of the collector

            asyncio.run(hold_sockets_while(work))
            web_mb, worker_mb = tree_rss(web.pid) / MB, tree_rss(node_worker.pid) / MB
            worker_processes = len(harness.process_tree(node_worker.pid))
        Task.objects.filter(node=node).delete()
        return [
            f"resident memory after pages, {SOCKETS} live sockets, start-all and stop-all of {COUNT} containers",
            ratio_line("web (daphne) against its target of 150 MB", web_mb, WEB_TARGET, "MB"),
            "beat                                                       not run (each node's collector polls)",
            ratio_line(f"node worker, all {worker_processes} process(es), against its target of 250 MB", worker_mb,
                       WORKER_TARGET, "MB"),
        ]
    finally:
        _cleanup(client)
        Guest.objects.filter(node=node).delete()


def _wait_task(task) -> None:  # noqa: ANN001
    from tasks.choices import ACTIVE_STATUSES

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        task.refresh_from_db()
        if task.status not in ACTIVE_STATUSES:
            return
        time.sleep(0.1)
    raise RuntimeError(f"task {task.upid} did not end")


def _cleanup(client) -> None:  # noqa: ANN001
    for container in client.containers.list(all=True, filters={"name": PREFIX}):
        container.remove(force=True)
