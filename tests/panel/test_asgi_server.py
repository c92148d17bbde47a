"""The ASGI application behind a real daphne server, as `make run` serves it."""

from __future__ import annotations

import pytest
import requests
from django.utils import timezone

from tasks.models import Task
from tests.factories import PASSWORD, GuestFactory, NodeFactory, UserFactory, grant
from tests.support import logged_in, post_form


def test_login_and_datacenter_over_http(asgi_server: str, admin_user) -> None:
    session = requests.Session()
    login = session.get(asgi_server + "/login/", timeout=10)
    assert login.status_code == 200
    assert session.get(asgi_server + "/static/panel/panel.css", timeout=10).status_code == 200
    response = session.post(
        asgi_server + "/login/",
        data={
            "username": admin_user.username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": asgi_server + "/login/"},
        timeout=10,
    )
    assert response.status_code == 200 and response.url == asgi_server + "/"
    assert "Datacenter" in response.text and "Create CT" in response.text


@pytest.mark.django_db(transaction=True)
def test_a_post_without_the_csrf_token_is_refused(asgi_server: str) -> None:
    """A logged-in browser's session cookie alone does not act: a page's POST and the API's (through the
    session) need the CSRF token; with it, the same POST queues the task."""
    node = NodeFactory(name="csrfnode", last_seen=timezone.now(), engines={"docker": {"ok": True}})
    guest = GuestFactory(node=node, state="stopped", backend_id="csrf")
    user = UserFactory(username="csrf-user")
    grant(user, "PVEVMUser", "/vms")
    session = logged_in(asgi_server, user.username)
    page = f"{asgi_server}/guests/{guest.vmid}/start/"
    api = f"{asgi_server}/api2/json/nodes/{node.name}/lxc/{guest.vmid}/status/start"
    for data in ({}, {"csrfmiddlewaretoken": "forged" * 6}):
        refused = session.post(page, data=data, headers={"Referer": page}, timeout=10, allow_redirects=False)
        assert refused.status_code == 403 and "CSRF verification failed" in refused.text, refused.status_code
    refused = session.post(api, headers={"Referer": page}, timeout=10)
    assert refused.status_code == 403 and "CSRF" in refused.json()["message"]
    assert not Task.objects.exists()
    accepted = post_form(session, page, {})
    assert accepted.status_code == 302, accepted.text[:300]
    task = Task.objects.get()
    assert accepted.headers["Location"] == task.get_absolute_url() and task.user == user
