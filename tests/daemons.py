"""Daemons of one test alone, for faults that must not hit those other runs share: a dockerd, a libvirt session
daemon of the node2 user and a redis-server, each with its own socket or port and state, started, killed or
restarted at will and removed with everything they made. The sweep of a run (tests/conftest.py) removes what
a killed run left of them.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import docker
import libvirt

from tests.support import CT_TEMPLATE, LOGS, NODE2_USER, RUN, free_port, start_process, stop_process, wait_until

CT_TEMPLATE_IMAGE = f"panel-templates/{CT_TEMPLATE}:latest"
# Where private dockerds keep their data and sockets, named <run>-<id>: a dead run's are swept.
DOCKERD_DATA = Path("/var/lib/panel-test-engines")
DOCKERD_RUN = Path("/run/panel-test-engines")


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _unmount_under(*roots: Path) -> None:
    """Unmount what a killed daemon left mounted under ``roots`` (deepest first), so that they can be removed."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for point in sorted((m for m in mounts if any(m == str(r) or m.startswith(f"{r}/") for r in roots)),
                        key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def _free_subnet() -> str:
    """A /24 of 10.224.0.0/16 that no interface of this machine uses."""
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    return next(f"10.224.{n}" for n in random.sample(range(256), 256) if f" 10.224.{n}." not in used)


class PrivateDockerd:
    """A dockerd with its own bridge and the container template loaded. Never ``--bridge none``: a dockerd
    without a bridge of its own deletes docker0, the shared engine's default bridge, when it starts."""

    def __init__(self) -> None:
        name = f"{RUN}-{uuid.uuid4().hex[:6]}"
        self.data = DOCKERD_DATA / f"docker-{name}"
        self.exec_root = DOCKERD_RUN / f"d{name}"  # short: it holds unix sockets
        self.bridge = f"pt{name}"[:15]
        self.socket = self.exec_root / "docker.sock"
        self.url = f"unix://{self.socket}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.exec_root.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(parents=True, exist_ok=True)
        if subprocess.run(["ip", "link", "show", self.bridge], capture_output=True).returncode != 0:
            subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True)
            subprocess.run(["ip", "addr", "add", f"{_free_subnet()}.1/24", "dev", self.bridge], check=True)
            subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)
        with open(LOGS / f"dockerd-{self.data.name}.log", "a") as out:
            # No iptables rules, forwarding or masquerading of its own: the shared engine owns them.
            self.process = subprocess.Popen(
                ["dockerd", "--host", self.url, "--data-root", str(self.data), "--exec-root", str(self.exec_root / "x"),
                 "--pidfile", str(self.exec_root / "docker.pid"), "--bridge", self.bridge, "--iptables=false",
                 "--ip6tables=false", "--ip-forward=false", "--ip-masq=false"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self.answers, 60, f"the private dockerd at {self.url} to answer (see {LOGS})", 0.2)

    def answers(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            return False
        try:
            client = docker.DockerClient(base_url=self.url, timeout=5)  # asks the engine its API version
        except docker.errors.DockerException:
            return False
        try:
            return bool(client.ping())
        finally:
            client.close()

    def _containerd(self) -> int | None:
        try:
            return int((self.exec_root / "x" / "containerd" / "containerd.pid").read_text())
        except (OSError, ValueError):
            return None

    def kill(self) -> None:
        """The engine dies at once, as on a crash: dockerd and its containerd, SIGKILLed."""
        assert self.process is not None
        containerd = self._containerd()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        if containerd is not None:
            with suppress(ProcessLookupError):
                os.kill(containerd, signal.SIGKILL)
            wait_until(lambda: not _alive(containerd), 30, f"containerd {containerd} to die")
            # Until this machine's init reaps it, its pid answers kill(0): dockerd would wait for it to serve.
            (self.exec_root / "x" / "containerd" / "containerd.pid").unlink(missing_ok=True)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def load_template(self) -> None:
        shared = docker.DockerClient(base_url="unix:///var/run/docker.sock")
        private = docker.DockerClient(base_url=self.url)
        try:
            private.images.load(b"".join(shared.images.get(CT_TEMPLATE_IMAGE).save()))
        finally:
            shared.close()
            private.close()

    def remove(self) -> None:
        self.stop()
        containerd = self._containerd()
        if containerd is not None:
            with suppress(ProcessLookupError):
                os.kill(containerd, signal.SIGKILL)
        _unmount_under(self.data, self.exec_root)
        shutil.rmtree(self.data, ignore_errors=True)
        shutil.rmtree(self.exec_root, ignore_errors=True)
        subprocess.run(["ip", "link", "delete", self.bridge], check=False, capture_output=True)


@contextmanager
def private_dockerd() -> Iterator[PrivateDockerd]:
    daemon = PrivateDockerd()
    try:
        daemon.start()
        daemon.load_template()
        yield daemon
    finally:
        daemon.remove()


class PrivateLibvirtd:
    """A ``qemu:///session`` libvirtd of the node2 user with a home of its own (so its own state, sockets and
    host UUID), and a storage directory its QEMU may write."""

    def __init__(self) -> None:
        # Short: QEMU's monitor socket lives below it, and a unix socket path has at most 107 bytes.
        self.home = Path("/var/tmp") / f"ptlv{RUN}{uuid.uuid4().hex[:4]}"
        self.runtime = self.home / "run"
        self.storage = self.home / "images"
        self.uri = f"qemu+unix:///session?socket={self.runtime}/libvirt/libvirt-sock"

    def start(self) -> None:
        for directory, mode in ((self.home, 0o755), (self.runtime, 0o700), (self.storage, 0o755)):
            directory.mkdir(exist_ok=True)
            directory.chmod(mode)
            shutil.chown(directory, NODE2_USER, NODE2_USER)
        subprocess.run(
            ["runuser", "-u", NODE2_USER, "--", "env", "-i", f"HOME={self.home}", f"USER={NODE2_USER}",
             f"XDG_RUNTIME_DIR={self.runtime}", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "libvirtd", "--daemon"],
            check=True, capture_output=True)
        wait_until(self._answers, 60, f"the private libvirtd at {self.uri} to answer", 0.2)

    def _answers(self) -> bool:
        try:
            libvirt.open(self.uri).close()
        except libvirt.libvirtError:
            return False
        return True

    @property
    def pid(self) -> int:
        return int((self.runtime / "libvirt" / "libvirtd.pid").read_text())

    def kill(self) -> None:
        """The daemon dies at once (SIGKILL); the QEMU processes it ran go on, as they do after a crash."""
        pid = self.pid
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not _alive(pid), 30, f"libvirtd {pid} to die")

    def stop(self) -> None:
        with suppress(OSError, ValueError):
            pid = self.pid
            os.kill(pid, signal.SIGTERM)
            wait_until(lambda: not _alive(pid), 30, f"libvirtd {pid} to stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        with suppress(libvirt.libvirtError):
            conn = libvirt.open(self.uri)
            try:
                for domain in conn.listAllDomains():
                    if domain.isActive():
                        domain.destroy()
                    domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
            finally:
                conn.close()
        self.stop()
        # QEMUs left by a daemon that was killed: their state and disks are in our home.
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            with suppress(OSError):
                if str(self.home).encode() in cmdline.read_bytes():
                    os.kill(int(cmdline.parent.name), signal.SIGKILL)
        shutil.rmtree(self.home, ignore_errors=True)


@contextmanager
def private_libvirtd() -> Iterator[PrivateLibvirtd]:
    daemon = PrivateLibvirtd()
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.remove()


class PrivateRedis:
    """A redis-server of one test on a free port. ``appendonly``: like a deployment's Redis it keeps its data
    through a restart; without, a restart loses everything, as a Redis without a dump does."""

    def __init__(self, directory: Path, appendonly: bool = True) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.appendonly = appendonly
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.appendonly else ["--appendonly", "no"]
        self.process = start_process(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--save", "", *persistence], os.environ.copy(), f"redis-{self.port}.log")
        wait_until(self.ping, 30, f"redis-server on port {self.port} to answer (see {LOGS})", 0.1)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=20)  # SIGTERM: Redis writes its files and exits
            self.process = None
        wait_until(lambda: not self.ping(), 10, f"redis-server on port {self.port} to stop")

    def ping(self) -> bool:
        return self.cli("ping") == "PONG"

    def cli(self, *args: str) -> str:
        result = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True)
        return result.stdout.strip()


@contextmanager
def private_redis(directory: Path, appendonly: bool = True) -> Iterator[PrivateRedis]:
    server = PrivateRedis(directory, appendonly)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.stop()

