"""Every page renders with an engine, a node or Redis down: a 200, never a 500.

Real processes: a throwaway dockerd registered as a node (its own socket, data and exec root, no bridge, no
iptables rules), polled while it runs and again after it stopped; daphne serving the pages with its Redis
unreachable; a node that stopped reporting long ago and one that never did. Every page linked from the
datacenter page is fetched before, while and after the engine stops.
"""

from __future__ import annotations

import subprocess
import threading
from datetime import timedelta

import docker
import pytest
import requests
from django.utils import timezone
from django.utils.html import escape

from guests.choices import GuestState
from guests.models import Guest
from nodes.poll import collect
from tests.daemons import PrivateDockerd
from tests.factories import PASSWORD, AdminFactory, GuestFactory, NodeFactory
from tests.support import CT_TEMPLATE, PREFIX, RUN, crawl, free_port, serve_asgi, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.engines]


@pytest.fixture
def dockerd():
    daemon = PrivateDockerd()
    daemon.start()
    yield daemon
    daemon.remove()
    # The shared daemon kept its bridge: a second one on the default bridge would have deleted it.
    assert subprocess.run(["ip", "link", "show", "docker0"], capture_output=True).returncode == 0


def logged_in(server: str) -> requests.Session:
    admin = AdminFactory()
    session = requests.Session()
    session.get(f"{server}/login/", timeout=10)
    session.post(f"{server}/login/", data={"username": admin.username, "password": PASSWORD,
                                           "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                 headers={"Referer": f"{server}/login/"}, timeout=10)
    return session


def refused_on_purpose(path: str) -> bool:
    """The roles list links every role, built-in ones too, whose change pages refuse with a 403 by design."""
    return path.startswith("/access/roles/")


def assert_all_render(pages: dict[str, int], must_include: set[str]) -> None:
    failed = {path: code for path, code in pages.items() if code != 200 and not (
        code == 403 and refused_on_purpose(path))}
    assert not failed, f"pages that did not render: {failed}"
    assert must_include <= set(pages), f"not reached: {must_include - set(pages)}"


def test_every_page_renders_with_an_engine_a_node_and_redis_down(live_database_url: str, storage_dir, dockerd,
                                                                  docker_client: docker.DockerClient) -> None:
    node = NodeFactory(name=f"faults-{RUN}", docker_url=dockerd.url)
    engine = docker.DockerClient(base_url=dockerd.url)
    try:  # one real container on the throwaway engine, from the template the shared engine has
        template = docker_client.images.list(filters={"label": f"panel.template={CT_TEMPLATE}"})[0]
        engine.images.load(b"".join(template.save()))
        container = engine.containers.create(template.id, ["sleep", "3600"], name=f"{PREFIX}faults")
    finally:
        engine.close()
    collect(node)
    guest = Guest.objects.get(node=node, backend_id=container.id)
    silent = NodeFactory(name=f"silent-{RUN}", docker_url=dockerd.url)
    silent.last_seen = timezone.now() - timedelta(hours=1)
    silent.engines = {"docker": {"ok": True, "version": "24.0"}, "libvirt": {"ok": False, "error": "gone"}}
    silent.save()
    GuestFactory(node=silent, state=GuestState.RUNNING)
    NodeFactory(name=f"never-{RUN}")  # registered, never reported
    must = {"/", f"/nodes/{node.name}/", f"/nodes/{silent.name}/", f"/guests/{guest.vmid}/", "/guests/", "/tasks/"}

    # Redis unreachable for the web process: nothing listens on its port.
    with serve_asgi(live_database_url, TEST_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0") as server:
        session = logged_in(server)
        assert_all_render(crawl(session, server), must)

        during: dict[str, int] = {}
        second = logged_in(server)  # here: the thread makes no database connection of its own
        crawler = threading.Thread(target=lambda: during.update(crawl(second, server)))
        crawler.start()
        dockerd.stop()  # the engine goes away while the pages are fetched...
        collect(node)  # ...and the node's next poll says so
        crawler.join(timeout=300)
        assert not crawler.is_alive(), "the crawl did not end"
        assert_all_render(during, must)

        node.refresh_from_db()
        assert not node.engines["docker"]["ok"] and node.engines["docker"]["error"]
        wait_until(lambda: Guest.objects.get(pk=guest.pk).state == GuestState.UNKNOWN, 10, "the guest to be unknown")
        after = crawl(session, server)
        assert_all_render(after, must)
        page = session.get(f"{server}/", timeout=30).text
        assert escape(node.engines["docker"]["error"]) in page  # the reason is shown, not a version
