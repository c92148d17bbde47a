"""`make run`'s supervisor: a crashed process is started again by itself, the others keep serving; Ctrl-C stops all.

The supervised panel has its own port, node name, database and supervisord files (PANEL_RUN_DIR) of this run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

import psutil
import pytest
import requests
from django.conf import settings
from django.utils import timezone
from supervisor.datatypes import RestartUnconditionally
from supervisor.options import ServerOptions

from nodes.models import Node
from tests.factories import NodeFactory
from tests.support import LOGS, ROOT, free_port, process_env, purge_queue, start_process, wait_for_worker, wait_until

from .conftest import answers, tls_env

NODE = f"{settings.PANEL_NODE_NAME}-sup"
CONFIG = ROOT / "supervisord" / "panel.conf"
BIN = ROOT / ".venv" / "bin"


def programs(config: Path) -> dict[str, object]:
    """The programs of a supervisord configuration, as supervisord itself reads it."""
    options = ServerOptions()
    options.realize(["-c", str(config)])
    return {group.name: group.process_configs[0] for group in options.process_group_configs}


@pytest.mark.parametrize("config", ["panel.conf", "cluster.conf"])
def test_every_process_is_restarted_with_backoff_and_logs_to_the_terminal(
    config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PANEL_RUN_DIR", str(LOGS))  # the Makefile exports it
    found = programs(ROOT / "supervisord" / config)
    expected = {"web", "worker"} | ({"worker2"} if config == "cluster.conf" else set())
    assert set(found) == expected
    for name, program in found.items():
        assert program.autorestart is RestartUnconditionally, name  # whatever its exit status
        assert program.startretries >= 30 and program.startsecs >= 1, name  # retried, 1 s later each time
        assert program.killasgroup, name  # a worker killed after its stop timeout takes its pool along
        assert program.stdout_logfile == "/dev/stdout" and program.redirect_stderr, name
        assert Path(program.command.split()[0]).exists(), program.command
    if config == "cluster.conf":
        assert found["worker2"].environment == {"PANEL_NODE_NAME": "node2"}


class Prober(threading.Thread):
    """Fetches the login page over and over until stopped, keeping every failure."""

    def __init__(self, url: str, ca: Path) -> None:
        super().__init__(daemon=True)
        self.url, self.ca = url, ca
        self.answered, self.failures = 0, []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                response = requests.get(self.url + "/login/", timeout=5, verify=str(self.ca))
                if response.status_code == 200:
                    self.answered += 1
                else:
                    self.failures.append(response.status_code)
            except requests.RequestException as exc:
                self.failures.append(repr(exc))
            self.stopping.wait(0.1)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)


@pytest.mark.engines
@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_comes_back_while_the_web_server_keeps_answering_and_ctrl_c_stops_all(
    settings, live_database_url: str, pki: Path
) -> None:
    settings.PANEL_POLL_INTERVAL = 2
    NodeFactory(name=NODE)
    run_dir = LOGS / "supervised"
    run_dir.mkdir(exist_ok=True)
    port = free_port()
    env = process_env(live_database_url, PANEL_NODE_NAME=NODE, PANEL_POLL_INTERVAL="2", PANEL_RUN_DIR=str(run_dir),
                      **tls_env(pki, port))
    purge_queue(env)
    url = f"https://127.0.0.1:{port}"

    def pid(name: str) -> int:
        result = subprocess.run([str(BIN / "supervisorctl"), "-c", str(CONFIG), "pid", name], env=env,
                                capture_output=True, text=True)
        return int(result.stdout) if result.stdout.strip().isdigit() else 0

    supervisord = start_process([str(BIN / "supervisord"), "-c", str(CONFIG)], env, "supervisord.log")
    prober = Prober(url, pki / "ca.pem")
    try:
        wait_until(lambda: answers(url, pki / "ca.pem"), 60, f"the supervised web server (see {LOGS}/supervisord.log)")
        wait_for_worker(env)
        web, worker = pid("web"), pid("worker")
        assert 0 not in (web, worker)

        prober.start()
        wait_until(lambda: prober.answered > 0, 30, "the web server to answer the prober")
        os.kill(worker, signal.SIGKILL)
        killed_at = timezone.now()
        wait_until(lambda: pid("worker") not in (0, worker), 60, "supervisord to start the worker again", 0.2)
        wait_for_worker(env)
        # Its collector polls the node again (the node's last report advances).
        wait_until(lambda: Node.objects.get(name=NODE).last_seen > killed_at, 60,
                   f"a poll served by the restarted worker (see {LOGS}/supervisord.log)", 0.2)
        answered_meanwhile = prober.answered
        prober.stop()
        assert prober.failures == [], prober.failures  # not one request failed while the worker was down
        assert answered_meanwhile > 1
        assert pid("web") == web  # the other was never restarted

        # Ctrl-C: supervisord stops every process it started, then itself.
        processes = psutil.Process(supervisord.pid).children(recursive=True)
        supervisord.send_signal(signal.SIGINT)
        assert supervisord.wait(timeout=90) == 0
        _, alive = psutil.wait_procs(processes, timeout=30)
        assert alive == [], alive
    finally:
        prober.stop()
        if supervisord.poll() is None:
            supervisord.terminate()
            supervisord.wait(timeout=90)
