"""A node's collector is a thread of its worker: stop the worker and the node turns offline (its guests unknown)
on every live page; start it again and everything comes back by itself.

Real processes: the node's own worker (with its collector thread), daphne serving the websocket a
browser page holds, the Redis channel layer. The node has the local engines to itself during the test (no
other node row exists), and one container made outside the panel shows inventory discovery on the way.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable

import docker
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.factories import AdminFactory, NodeFactory
from tests.support import (
    LOGS,
    PREFIX,
    RUN,
    process_env,
    purge_queue,
    serve_asgi,
    session_cookie,
    start_process,
    stop_process,
    wait_for_worker,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.engines]

NODE = f"hb-{RUN}"
POLL_INTERVAL, OFFLINE_AFTER, WATCH_INTERVAL = 1, 5, 1


def start_worker(env: dict) -> subprocess.Popen:
    worker = start_process([sys.executable, "manage.py", "nodeworker", "--concurrency", "1"], env,
                           "worker-heartbeat.log")
    wait_for_worker(env)
    return worker


async def next_push(socket: ClientConnection, want: Callable[[list[dict]], bool], timeout: float) -> list[dict]:
    """The resources of the first push of NODE that satisfies ``want``."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no push of {NODE} as wanted within {timeout} s; see {LOGS}/worker-heartbeat.log"
        message = json.loads(await asyncio.wait_for(socket.recv(), timeout=left))
        resources = [r for r in message["data"] if r["node"] == NODE]
        if message["node"] in (None, NODE) and want(resources):
            return resources


def status_of(resources: list[dict], resource_id: str) -> str | None:
    return next((r["status"] for r in resources if r["id"] == resource_id), None)


def test_a_stopped_collector_turns_its_node_offline_and_a_restarted_one_brings_it_back(
    live_database_url: str, docker_client: docker.DockerClient
) -> None:
    NodeFactory(name=NODE)
    admin = AdminFactory()
    image = docker_client.images.list(filters={"label": "panel.template=busybox"})[0]
    outside = docker_client.containers.run(image.id, ["sleep", "600"], name=f"{PREFIX}heartbeat", detach=True)
    env = process_env(live_database_url, PANEL_NODE_NAME=NODE, PANEL_NODE_OFFLINE_AFTER=str(OFFLINE_AFTER),
                      PANEL_POLL_INTERVAL=str(POLL_INTERVAL))
    purge_queue(env)

    async def scenario(server: str) -> None:
        headers = {"Cookie": session_cookie(server, admin.username), "Origin": server}
        url = server.replace("http://", "ws://") + "/ws/cluster/resources/"
        async with websockets.connect(url, additional_headers=headers, open_timeout=30) as socket:
            worker = await asyncio.to_thread(start_worker, env)
            found = await next_push(socket, lambda rs: any(
                r["name"] == outside.name and r["status"] == "running" for r in rs), timeout=60)
            guest_id = next(r["id"] for r in found if r["name"] == outside.name)
            assert status_of(found, f"node/{NODE}") == "online"

            await asyncio.to_thread(stop_process, worker)  # the collector stops: nothing reports for the node any more
            gone = await next_push(socket, lambda rs: status_of(rs, f"node/{NODE}") == "offline", timeout=60)
            assert status_of(gone, guest_id) == "unknown"
            assert status_of(gone, f"storage/{NODE}/local") == "unknown"

            worker = await asyncio.to_thread(start_worker, env)
            back = await next_push(socket, lambda rs: status_of(rs, f"node/{NODE}") == "online", timeout=60)
            assert status_of(back, guest_id) == "running"
            await asyncio.to_thread(stop_process, worker)

    try:
        with serve_asgi(live_database_url, PANEL_NODE_OFFLINE_AFTER=str(OFFLINE_AFTER),
                        PANEL_STATUS_WATCH_INTERVAL=str(WATCH_INTERVAL)) as server:
            asyncio.run(scenario(server))
    finally:
        outside.remove(force=True)
