"""A Redis outage under a running worker (and its collector) and web server: nothing crashes, everything serves
again after.

Redis here is a private redis-server of the test (tests/panel/conftest.py): the shared one is never stopped.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
from pathlib import Path

import docker
import pytest
import requests
import websockets
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from guests.choices import GuestState
from guests.models import Guest
from nodes.models import Node
from nodes.poll import collect
from tasks.choices import TaskStatus
from tasks.models import Task
from tests.daemons import PrivateRedis
from tests.factories import PASSWORD, AdminFactory, NodeFactory
from tests.support import (
    CT_TEMPLATE,
    LOGS,
    PREFIX,
    process_env,
    purge_queue,
    start_process,
    stop_process,
    wait_for_task,
    wait_for_worker,
    wait_until,
)

from .conftest import serve

pytestmark = [pytest.mark.engines, pytest.mark.django_db(transaction=True)]

NODE = f"{settings.PANEL_NODE_NAME}-brk"
POLL_INTERVAL = 2
UP_DELAY = 40  # the start-all task waits this long after starting its guest: it runs through the outage


def log_after(path: Path, offset: int) -> str:
    return path.read_text(errors="replace")[offset:]


def login(server: str, username: str, ca: str) -> requests.Session:
    session = requests.Session()
    session.get(server + "/login/", timeout=10, verify=ca)
    response = session.post(server + "/login/", timeout=10, verify=ca, headers={"Referer": server + "/login/"},
                            data={"username": username, "password": PASSWORD,
                                  "csrfmiddlewaretoken": session.cookies["csrftoken"]})
    assert response.url == server + "/", response.text[:500]
    return session


def task_list_socket_answers(server: str, session: requests.Session, ca: str) -> bool:
    """The web process's channel layer (Redis) works: the task list socket sends its first message."""

    async def first_message() -> dict:
        headers = {"Cookie": f"sessionid={session.cookies['sessionid']}", "Origin": server}
        url = server.replace("https://", "wss://") + "/ws/tasks/"
        context = ssl.create_default_context(cafile=ca)
        async with websockets.connect(url, ssl=context, additional_headers=headers, open_timeout=20) as socket:
            return json.loads(await asyncio.wait_for(socket.recv(), timeout=20))

    try:
        return isinstance(asyncio.run(first_message()), dict)
    except (OSError, websockets.exceptions.WebSocketException, TimeoutError):
        return False  # not yet: the caller waits for it with a bound


def test_a_redis_outage_crashes_no_process_and_everything_serves_again(
    settings, live_database_url: str, private_redis: PrivateRedis, docker_client: docker.DockerClient, pki: Path
) -> None:
    settings.PANEL_POLL_INTERVAL = POLL_INTERVAL
    node = NodeFactory(name=NODE)
    admin = AdminFactory()
    image = docker_client.images.list(filters={"label": f"panel.template={CT_TEMPLATE}"})[0]
    container = docker_client.containers.create(image.id, name=f"{PREFIX}outage", mem_limit="32m")
    collect(node)  # the container becomes a guest of the node, stopped
    Guest.objects.filter(backend_id=container.id).update(onboot=True, startup_up=UP_DELAY)

    env = process_env(live_database_url, PANEL_NODE_NAME=NODE, PANEL_POLL_INTERVAL=str(POLL_INTERVAL),
                      TEST_REDIS_URL=private_redis.url)
    purge_queue(env)
    worker_log = LOGS / "worker-outage.log"
    worker_start = worker_log.stat().st_size if worker_log.exists() else 0
    worker = start_process([sys.executable, "manage.py", "nodeworker", "--concurrency", "4"], env, worker_log.name)
    processes = {"worker": worker}

    def alive() -> None:
        for name, process in processes.items():
            assert process.poll() is None, f"the {name} exited with {process.returncode} (see {LOGS})"

    try:
        with serve(live_database_url, pki, "web-outage.log", TEST_REDIS_URL=private_redis.url) as server:
            ca = str(pki / "ca.pem")
            wait_for_worker(env)
            session = login(server, admin.username, ca)
            assert task_list_socket_answers(server, session, ca)

            # A task runs with its message unacknowledged (acks_late) when Redis goes away: the case that
            # killed the worker with AttributeError("'NoneType' object has no attribute 'hostname'").
            response = session.post(server + reverse("node_bulk_action", args=[NODE, "startall"]), timeout=10,
                                    verify=ca, headers={"Referer": server + "/"},
                                    data={"csrfmiddlewaretoken": session.cookies["csrftoken"]})
            assert response.status_code == 200, response.text[:500]
            task = Task.objects.get(type="startall", node__name=NODE)
            wait_until(lambda: Guest.objects.get(backend_id=container.id).state == GuestState.RUNNING, 60,
                       f"start-all to start its guest (see {worker_log})", 0.2)

            private_redis.stop()
            wait_until(lambda: "Connection to broker lost" in log_after(worker_log, worker_start), 30,
                       "the worker to notice that Redis is gone", 0.2)
            wait_until(lambda: "Cannot connect to" in log_after(worker_log, worker_start), 30,
                       "the worker to try to reconnect", 0.2)
            during = timezone.now()
            # The collector polls the node without Redis: the heartbeat goes on through the outage.
            wait_until(lambda: Node.objects.get(name=NODE).last_seen > during, 30,
                       f"the collector to poll the node while Redis is down (see {worker_log})", 0.2)
            assert requests.get(server + "/login/", timeout=10, verify=ca).status_code == 200  # served meanwhile
            alive()
            task.refresh_from_db()
            assert task.status == TaskStatus.RUNNING, f"{task.status}: the task must outlive the outage"

            private_redis.start()
            back = timezone.now()
            wait_until(lambda: log_after(worker_log, worker_start).count("Connected to") >= 2, 60,
                       f"the worker to reconnect (see {worker_log})", 0.2)
            wait_until(lambda: Node.objects.get(name=NODE).last_seen > back, 60,
                       f"a poll after Redis came back (see {worker_log})", 0.2)
            # The web's channel layer is back too (a page's socket reconnects by itself: live.js).
            wait_until(lambda: task_list_socket_answers(server, session, ca), 30,
                       f"the web's sockets to work again (see {LOGS}/web-outage.log)", 0.5)
            alive()

            # The task ran through the outage and ended; its acknowledgement reached Redis (not left to be
            # delivered again from the unacked set).
            wait_for_task(task, timeout=UP_DELAY + 60)
            assert task.status == TaskStatus.OK, task.exit_message
            wait_until(lambda: private_redis.cli("hlen", f"test-{settings.TEST_RUN}:unacked") == "0", 30,
                       "the task's message to be acknowledged")
            alive()
            assert "Unrecoverable error" not in log_after(worker_log, worker_start)
    finally:
        for process in processes.values():
            stop_process(process)
        container.remove(force=True)
