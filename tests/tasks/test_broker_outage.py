"""Redis down: a submission is kept and runs once the broker is back; one that waits too long is failed and
frees its guest. Nothing answers 500, nothing stays queued with its guest locked.

Real processes on a private redis-server of this test (the shared one on 6379 is never stopped): daphne
serving the API and the pages, and the node's worker with its collector, both pointed at it by TEST_REDIS_URL.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import docker
import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from access.models import ApiToken
from guests.models import Guest
from nodes.models import Node
from nodes.poll import collect
from tasks.choices import ACTIVE_STATUSES, TaskStatus
from tasks.models import Task
from tests.daemons import PrivateRedis, private_redis
from tests.factories import PASSWORD, AdminFactory, NodeFactory
from tests.support import (
    CT_TEMPLATE,
    LOGS,
    PREFIX,
    RUN,
    log_text,
    process_env,
    serve_asgi,
    start_process,
    stop_process,
    wait_for_task,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.engines]

NODE = f"outage-{RUN}"
SEND_TIMEOUT = 20  # how long a submission may wait for the broker before it is failed


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    """A Redis of the test's own that keeps nothing through a restart (a Redis without a dump)."""
    with private_redis(LOGS / f"redis-{RUN}-outage", appendonly=False) as server:
        yield server


@contextlib.contextmanager
def worker_of(env: dict) -> Iterator[None]:
    started = timezone.now()
    worker = start_process([sys.executable, "manage.py", "nodeworker", "--concurrency", "2"], env,
                           "worker-outage.log")
    try:
        wait_until(lambda: (Node.objects.get(name=NODE).last_seen or started) > started, 60,
                   f"the collector of {NODE} to report (see {LOGS}/worker-outage.log)")
        yield
    finally:
        stop_process(worker)


@pytest.fixture
def guests(transactional_db: None, storage_dir, docker_client: docker.DockerClient) -> Iterator[list[Guest]]:
    node = NodeFactory(name=NODE)
    image = docker_client.images.list(filters={"label": f"panel.template={CT_TEMPLATE}"})[0].id
    made = [docker_client.containers.create(image, ["sleep", "3600"], name=f"{PREFIX}outage-{i}") for i in range(3)]
    collect(node)
    yield [Guest.objects.get(backend_id=c.id) for c in made]
    for container in made:
        container.remove(force=True)


def api_headers() -> dict:
    token = ApiToken(user=AdminFactory(), tokenid="outage", privsep=False)
    secret = token.set_new_secret()
    token.save()
    return {"Authorization": f"PVEAPIToken={token.full_id}={secret}"}


def start_through_api(server: str, headers: dict, guest: Guest) -> Task:
    response = requests.post(f"{server}/api2/json/nodes/{NODE}/lxc/{guest.vmid}/status/start", headers=headers,
                             timeout=30)
    assert response.status_code == 200, response.text
    return Task.objects.get(upid=response.json()["data"])


def start_through_the_page(server: str, guest: Guest) -> requests.Response:
    session = requests.Session()
    session.get(f"{server}/login/", timeout=10)
    admin = AdminFactory()
    session.post(f"{server}/login/", data={"username": admin.username, "password": PASSWORD,
                                           "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                 headers={"Referer": f"{server}/login/"}, timeout=10)
    page = f"{server}{guest.get_absolute_url()}"
    session.get(page, timeout=10)
    return session.post(f"{server}{reverse('guest_action', args=[guest.vmid, 'start'])}",
                        data={"csrfmiddlewaretoken": session.cookies["csrftoken"]}, headers={"Referer": page},
                        allow_redirects=False, timeout=30)


def test_submissions_while_the_broker_is_down_run_once_it_is_back_or_fail_and_free_their_guest(
        live_database_url: str, redis_server: PrivateRedis, guests: list[Guest], docker_client) -> None:
    env = process_env(live_database_url, PANEL_NODE_NAME=NODE, TEST_REDIS_URL=redis_server.url,
                      PANEL_POLL_INTERVAL="1", PANEL_TASK_SEND_TIMEOUT=str(SEND_TIMEOUT))
    headers = api_headers()
    with serve_asgi(live_database_url, TEST_REDIS_URL=redis_server.url) as server, worker_of(env):
        redis_server.stop()
        by_api = start_through_api(server, headers, guests[0])
        response = start_through_the_page(server, guests[1])
        assert response.status_code == 302, response.text[:2000]  # on to the task's page, not an error
        by_page = Task.objects.get(guest=guests[1], type="start")
        assert response.headers["Location"] == by_page.get_absolute_url()
        for task in (by_api, by_page):
            assert task.status == TaskStatus.QUEUED and task.sent_at is None
            assert "the task queue (Redis) is unreachable" in log_text(task)

        redis_server.start()  # empty: whatever it held is gone, as after a restart without a dump
        for task in (by_api, by_page):
            wait_for_task(task, timeout=90)
            assert task.status == TaskStatus.OK, task.exit_message
        for guest in guests[:2]:
            assert docker_client.containers.get(guest.backend_id).status == "running"

        # Down for longer than a submission may wait: failed with the reason, its guest free again.
        redis_server.stop()
        late = start_through_api(server, headers, guests[2])
        wait_for_task(late, timeout=SEND_TIMEOUT + 60)
        assert late.status == TaskStatus.ERROR
        assert late.exit_message == (f"the task queue (Redis) was unreachable for {SEND_TIMEOUT} s: the task never "
                                     "reached the worker of its node, nothing was done")
        assert not Task.objects.filter(guest=guests[2], status__in=ACTIVE_STATUSES).exists()
        assert docker_client.containers.get(guests[2].backend_id).status == "created"
        redis_server.start()
        again = start_through_api(server, headers, guests[2])
        wait_for_task(again, timeout=90)
        assert again.status == TaskStatus.OK, again.exit_message
