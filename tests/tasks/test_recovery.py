"""Nothing lost, nothing failed that still runs: the heartbeat behind long tasks, leases, restarted workers,
second messages and lost messages, on a real worker (one process: task threads and its collector thread),
Docker and Redis.

Each test runs a worker of a node of its own, with short intervals; this process checks what any other node's
poll checks (``recover_lost_tasks``), with the same lease. Containers that ignore SIGTERM make shutdowns that
last as long as their timeout: long tasks on demand.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta

import docker
import psutil
import pytest
from django.db.models.functions import Now
from django.utils import timezone

from guests.models import Guest
from nodes.choices import NodeStatus
from nodes.models import Node
from nodes.poll import collect
from tasks.choices import ACTIVE_STATUSES, TaskStatus
from tasks.models import Task
from tasks.recovery import recover_lost_tasks
from tests.factories import NodeFactory
from tests.support import (
    LOGS,
    PREFIX,
    RUN,
    log_text,
    process_env,
    process_tree,
    start_process,
    stop_process,
    stubborn_container,
    wait_for_task,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.engines]

NODE = f"rec-{RUN}"
POLL_INTERVAL, OFFLINE_AFTER, LEASE = 1, 10, 6  # a poll of a loaded machine may take seconds
LONG = 600  # a shutdown timeout that outlasts every test


@pytest.fixture
def short_times(settings) -> None:
    """This process judges nodes and leases as the worker's processes do."""
    settings.PANEL_NODE_OFFLINE_AFTER, settings.PANEL_TASK_LEASE = OFFLINE_AFTER, LEASE


@pytest.fixture
def worker_env(live_database_url: str, short_times: None) -> dict:
    return process_env(live_database_url, PANEL_NODE_NAME=NODE, PANEL_POLL_INTERVAL=str(POLL_INTERVAL),
                       PANEL_NODE_OFFLINE_AFTER=str(OFFLINE_AFTER), PANEL_TASK_LEASE=str(LEASE))


@pytest.fixture
def node(transactional_db: None, storage_dir) -> Node:
    """A node of this test alone on the local engines (no other node row exists)."""
    return NodeFactory(name=NODE)


_started = itertools.count(1)


@contextlib.contextmanager
def running_worker(env: dict, concurrency: int = 2) -> Iterator[subprocess.Popen]:
    log = f"worker-recovery-{next(_started)}.log"
    started = timezone.now()
    # Ready once its collector reports: messages sent before its consumer connects wait in the queue.
    worker = start_process([sys.executable, "manage.py", "nodeworker", "--concurrency", str(concurrency)], env, log)
    try:
        wait_until(lambda: (Node.objects.get(name=NODE).last_seen or started) > started, 60,
                   f"the collector of {NODE} to report (see {LOGS}/{log})")
        yield worker
    finally:
        tree = _alive_tree(worker.pid)  # read now: once the worker is gone its children are nobody's
        for process in tree:
            with contextlib.suppress(psutil.Error):
                process.resume()  # a frozen one cannot stop
        stop_process(worker)
        for process in tree:
            with contextlib.suppress(psutil.Error):
                process.kill()  # what a failed test left running, e.g. a pool process in a long shutdown


def _alive_tree(pid: int) -> list:
    try:
        return process_tree(pid)
    except psutil.Error:  # gone already
        return []


@pytest.fixture
def stubborn(docker_client: docker.DockerClient, node: Node):
    """Make running containers that ignore SIGTERM, known to the panel as guests of NODE."""
    made = []

    def make(count: int) -> list[Guest]:
        containers = [stubborn_container(docker_client, f"{PREFIX}rec-{len(made) + i}") for i in range(count)]
        made.extend(containers)
        collect(node)
        return [Guest.objects.get(backend_id=c.id, state="running") for c in containers]

    yield make
    for container in made:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def shutdown(client, guest: Guest, **data: object) -> Task:
    response = client.post(f"/api2/json/nodes/{NODE}/lxc/{guest.vmid}/status/shutdown", {"timeout": LONG, **data})
    assert response.status_code == 200, response.content
    return Task.objects.get(upid=response.json()["data"])


def status(task: Task) -> str:
    task.refresh_from_db()
    return task.status


def wait_running(*tasks: Task) -> None:
    wait_until(lambda: all(status(t) == TaskStatus.RUNNING for t in tasks), 30,
               f"{len(tasks)} tasks to run (see {LOGS}/worker-recovery-*.log)")


def cancel(client, task: Task) -> None:
    response = client.delete(f"/api2/json/nodes/{NODE}/tasks/{task.upid}")
    assert response.status_code == 200, response.content


def test_a_worker_full_of_long_tasks_keeps_its_node_online_and_nothing_is_failed(
        admin_client, node, worker_env, stubborn, docker_client) -> None:
    guests = stubborn(3)
    with running_worker(worker_env, concurrency=2) as worker:
        tasks = [shutdown(admin_client, guest) for guest in guests]
        wait_until(lambda: sorted(status(t) for t in tasks) == ["queued", "running", "running"], 30,
                   "the worker to be full: two shutdowns running, one queued")
        assert process_tree(worker.pid) == [psutil.Process(worker.pid)]  # tasks and collector: threads of one
        node.refresh_from_db()
        full_since = node.last_seen

        def heartbeats_went_on() -> bool:
            recover_lost_tasks()  # what every other node's poll does
            assert sorted(status(t) for t in tasks) == ["queued", "running", "running"], \
                [(t.status, t.exit_message) for t in tasks]
            node.refresh_from_db()
            assert node.status == NodeStatus.ONLINE, f"node offline, last seen {node.last_seen}"
            return node.last_seen > full_since + timedelta(seconds=2 * OFFLINE_AFTER)

        wait_until(heartbeats_went_on, 60, f"the heartbeat of {NODE} to go on while its worker is full")

        # A shutdown stops waiting when cancelled; the queued one is cancelled at once.
        for task in tasks:
            cancel(admin_client, task)
        for task in tasks:
            wait_for_task(task, timeout=30)
            assert task.status == TaskStatus.CANCELLED, task.exit_message
        running = [t for t in tasks if t.started_at]
        assert len(running) == 2 and all("cancelled while waiting for" in t.exit_message for t in running)
        for guest in guests:
            assert docker_client.containers.get(guest.backend_id).status == "running"  # left as it was


def test_only_a_lease_that_stops_being_renewed_fails_a_task(admin_client, node, worker_env, stubborn,
                                                            live_database_url) -> None:
    [guest] = stubborn(1)
    with running_worker(worker_env) as worker:
        task = shutdown(admin_client, guest)
        wait_running(task)

        # The collector hangs (here on a lock of its node's row, as on an engine that stops answering): the node
        # goes silent, while the task still runs and its lease is renewed.
        with node_row_locked(live_database_url, node):
            def renewed_long_after_the_node_went_silent() -> bool:
                recover_lost_tasks()
                assert status(task) == TaskStatus.RUNNING, task.exit_message
                node.refresh_from_db()
                assert task.lease_renewed_at is not None
                return (node.status == NodeStatus.OFFLINE
                        and task.lease_renewed_at > node.last_seen + timedelta(seconds=2 * LEASE))

            wait_until(renewed_long_after_the_node_went_silent, 60,
                       "the lease to be renewed for two lease periods while the node shows offline")
        wait_until(lambda: Node.objects.get(pk=node.pk).status == NodeStatus.ONLINE, 30, "the node to report again")

        # The whole worker freezes, as on a node that hangs: its lease expires, any node's poll fails the task.
        frozen = process_tree(worker.pid)
        for process in frozen:
            process.suspend()

        def failed() -> bool:
            recover_lost_tasks()
            return status(task) != TaskStatus.RUNNING

        wait_until(failed, 60, "the task of a frozen worker to be failed")
        assert task.status == TaskStatus.ERROR
        assert f"stopped renewing its lease for {LEASE} s" in task.exit_message
        assert f"TASK ERROR: {task.exit_message}" in log_text(task)
        assert not Task.objects.filter(guest=guest, status__in=ACTIVE_STATUSES).exists()  # the guest is free
        for process in frozen:
            process.kill()


@contextlib.contextmanager
def node_row_locked(database_url: str, node: Node) -> Iterator[None]:
    """Hold a lock on the node's row from a connection of its own: whoever writes the row (the heartbeat) waits
    until the block ends; rows that only refer to the node (guests, tasks, leases) are written meanwhile."""
    import psycopg

    with psycopg.connect(database_url) as lock, lock.transaction():
        lock.execute("SELECT id FROM nodes_node WHERE id = %s FOR NO KEY UPDATE", [node.pk])
        yield


def test_a_worker_killed_with_its_pool_is_restarted_and_fails_the_lost_task(
        admin_client, node, worker_env, stubborn, docker_client) -> None:
    [guest] = stubborn(1)
    with running_worker(worker_env) as worker:
        task = shutdown(admin_client, guest)
        wait_running(task)
        for process in process_tree(worker.pid):  # a crash: its task threads and its collector go with it
            process.kill()
        worker.wait(timeout=30)
    with running_worker(worker_env):
        # Failed on evidence, its process is dead, by the first poll of the restarted worker.
        wait_until(lambda: status(task) != TaskStatus.RUNNING, 30, "the lost task to be failed")
        assert task.status == TaskStatus.ERROR
        assert task.exit_message.startswith("the worker process running this task died")
        assert Guest.objects.get(pk=guest.pk).state == "running"  # re-read from the engine by that poll
        response = admin_client.post(f"/api2/json/nodes/{NODE}/lxc/{guest.vmid}/status/stop")
        assert response.status_code == 200, response.content  # the guest is free again
        stop = wait_for_task(Task.objects.get(upid=response.json()["data"]))
        assert stop.status == TaskStatus.OK, stop.exit_message
    assert docker_client.containers.get(guest.backend_id).status == "exited"


def test_a_worker_started_while_the_old_one_finishes_its_task_leaves_that_task_alone(
        admin_client, node, worker_env, stubborn, docker_client) -> None:
    [guest] = stubborn(1)
    with running_worker(worker_env) as old:
        task = shutdown(admin_client, guest, timeout=8, forceStop=1)
        wait_running(task)
        old.send_signal(signal.SIGTERM)  # a warm shutdown: it finishes what it runs, then exits
        with running_worker(worker_env):  # the new one starts meanwhile, as in a rolling restart
            wait_for_task(task, timeout=60)
            assert task.status == TaskStatus.OK, task.exit_message  # its real end, not a failure at restart
            assert "did not shut down within 8 s; stopping it" in log_text(task)
            old.wait(timeout=30)
    assert docker_client.containers.get(guest.backend_id).status == "exited"


def test_a_second_message_for_a_running_task_does_not_fail_it(admin_client, node, worker_env, stubborn) -> None:
    from tasks.tasks import run_task

    [guest] = stubborn(1)
    with running_worker(worker_env):
        task = shutdown(admin_client, guest, timeout=5, forceStop=1)
        wait_running(task)
        run_task.apply_async(args=[task.pk], queue=node.queue)  # as a broker redelivering it would
        wait_until(lambda: "another message for this task arrived while it ran: ignored" in log_text(task), 30,
                   "the worker to receive the second message")
        wait_for_task(task, timeout=60)
        assert task.status == TaskStatus.OK, task.exit_message


def test_the_broker_never_hands_a_running_task_out_again(admin_client, node, worker_env, stubborn) -> None:
    """Redis puts back a message left unacknowledged longer than its visibility timeout (an hour by default):
    here one second, looked for every second. A task acknowledged when it starts is never put back."""
    [guest] = stubborn(1)
    options = {"visibility_timeout": 1, "unacked_restore_interval": 1, "unacked_restore_throttle": 1}
    with running_worker({**worker_env, "TEST_BROKER_TRANSPORT_OPTIONS": json.dumps(options)}):
        task = shutdown(admin_client, guest, timeout=8, forceStop=1)  # eight visibility timeouts long
        wait_for_task(task, timeout=60)
        assert task.status == TaskStatus.OK, task.exit_message
        assert "another message for this task arrived" not in log_text(task)


def test_queued_tasks_whose_message_was_lost_or_never_sent_are_sent_again(admin_user, node, worker_env, stubborn,
                                                                        docker_client) -> None:
    lost_guest, unsent_guest = stubborn(2)
    params = {"timeout": 1, "force_stop": True}
    # Sent, then lost (a Redis restarted without its data, a worker killed before it claimed the task)...
    lost = Task.objects.record(node, "shutdown", admin_user, guest=lost_guest, params=params)
    Task.objects.filter(pk=lost.pk).update(sent_at=Now())
    # ...and never sent (the web process died between its commit and its send).
    unsent = Task.objects.record(node, "shutdown", admin_user, guest=unsent_guest, params=params)
    with running_worker(worker_env, concurrency=2):
        for task in (lost, unsent):
            wait_for_task(task, timeout=60)  # the collector sends them: the worker has room
            assert task.status == TaskStatus.OK, task.exit_message
    for guest in (lost_guest, unsent_guest):
        assert docker_client.containers.get(guest.backend_id).status == "exited"
