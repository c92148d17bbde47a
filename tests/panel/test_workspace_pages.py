"""The workspace's pages with the test client: the tabs of every object, what each user is shown of them, the
wizard's checks as typed, the node's network, and styled error pages with DEBUG off."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse

from guests.models import Guest
from nodes.poll import poll_node
from tests.factories import GuestFactory, PoolFactory, UserFactory, grant
from tests.support import PREFIX

pytestmark = pytest.mark.django_db


def test_every_tab_of_the_datacenter_a_node_and_a_guest_renders(admin_client, node) -> None:
    guest = GuestFactory(node=node, name=f"{PREFIX}tabs", tags="web;prod", description="the *notes*")
    urls = ["/", *[reverse("datacenter_tab", args=[t]) for t in ("search", "permissions", "storage", "tasks")],
            node.get_absolute_url(), *[reverse("node_tab", args=[node.name, t])
                                       for t in ("guests", "storage", "network", "tasks")],
            guest.get_absolute_url(), *[reverse("guest_tab", args=[guest.vmid, t]) for t in ("tasks", "permissions")]]
    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert 'aria-current="page"' in body and 'class="tab-bar"' in body, url
    summary = admin_client.get(guest.get_absolute_url()).content.decode()
    assert '<span class="tag">web</span>' in summary and "the *notes*" in summary
    search = admin_client.get(reverse("datacenter_tab", args=["search"])).content.decode()
    assert f"{guest.vmid} ({guest.name})" in search and node.name in search
    assert admin_client.get(reverse("guest_tab", args=[guest.vmid, "nope"])).status_code == 404


def test_the_network_tab_shows_the_hosts_bridges_and_dockers_networks(admin_client, node) -> None:
    poll_node(node.name)  # the poll reads them
    body = admin_client.get(reverse("node_tab", args=[node.name, "network"])).content.decode()
    assert "<td>bridge</td>" in body
    assert "<td>docker0</td>" in body or "<td>bridge</td><td>bridge</td>" in body  # Docker's default network
    assert "<td>lo</td>" not in body


def test_a_pool_user_is_shown_neither_tabs_nor_controls_they_may_not_use(client, node) -> None:
    pool = PoolFactory(name=f"{PREFIX}pool")
    guest = GuestFactory(node=node, name=f"{PREFIX}mine", pool=pool, state="stopped")
    user = UserFactory(username=f"{PREFIX}vmuser")
    grant(user, "PVEVMUser", f"/pool/{pool.name}")
    client.force_login(user)
    body = client.get(guest.get_absolute_url()).content.decode()
    assert ">Start</button>" in body
    assert ">Delete<" not in body and "Migrate" not in body and "Permissions</a>" not in body
    assert "Create CT" not in body and "Create VM" not in body
    assert client.get(reverse("guest_tab", args=[guest.vmid, "permissions"])).status_code == 404
    datacenter = client.get("/").content.decode()
    assert "data-summary-nodes hidden" in datacenter  # no node health to show: no red "down", no "0 of 0"
    assert "Start all" not in datacenter


def test_the_wizard_asks_the_server_form_as_the_user_types(admin_client, node) -> None:
    url = reverse("guest_create", args=["ct"])
    errors = admin_client.get(url, {"validate": "1", "name": "x" * 300, "vmid": "5"}).json()["errors"]
    assert errors["name"] == ["a guest name has at most 63 characters; this one has 300"]
    assert errors["vmid"] == ["Ensure this value is greater than or equal to 100."]
    good = {"validate": "1", "node": node.name, "template": "busybox", "name": f"{PREFIX}ok", "vcpus": 1,
            "memory_mib": 64}
    assert admin_client.get(url, good).json() == {"errors": {}}
    assert not Guest.objects.filter(name=f"{PREFIX}ok").exists()  # a check creates nothing


@override_settings(DEBUG=False)
def test_errors_are_the_panels_own_pages(client, admin_client) -> None:
    for response in (admin_client.get("/no/such/page/"), admin_client.get("/guests/123456/")):
        body = response.content.decode()
        assert response.status_code == 404
        assert "<h1>Not found</h1>" in body and "panel.css" in body and "Back to the datacenter" in body
    anonymous = client.get("/no/such/page/")
    assert anonymous.status_code == 404 and "panel.css" in anonymous.content.decode()
