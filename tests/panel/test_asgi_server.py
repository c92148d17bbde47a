"""The ASGI application behind a real daphne server, as `make run` serves it."""

from __future__ import annotations

import asyncio

import pytest
import requests
import websockets
from django.utils import timezone
from websockets.exceptions import InvalidStatus

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


@pytest.mark.django_db(transaction=True)
def test_logout_ends_the_session_for_pages_the_api_and_sockets(asgi_server: str) -> None:
    user = UserFactory(username="leaving")
    grant(user, "PVEAuditor", "/")
    session = logged_in(asgi_server, user.username)
    cookie = session.cookies["sessionid"]
    assert session.get(asgi_server + "/", allow_redirects=False, timeout=10).status_code == 200
    assert session.get(asgi_server + "/logout/", timeout=10).status_code == 405  # not by following a link
    response = post_form(session, asgi_server + "/logout/", {})
    assert (response.status_code, response.headers["Location"]) == (302, "/login/")
    stale = requests.Session()
    stale.cookies.set("sessionid", cookie)  # the cookie as it was: a copy kept by the browser or a thief
    page = stale.get(asgi_server + "/", allow_redirects=False, timeout=10)
    assert page.status_code == 302 and page.headers["Location"].startswith("/login/")
    assert stale.get(asgi_server + "/api2/json/nodes", timeout=10).status_code == 401

    async def socket() -> int:
        url = asgi_server.replace("http://", "ws://") + "/ws/tasks/"
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(url, open_timeout=20, additional_headers={"Cookie": f"sessionid={cookie}",
                                                                               "Origin": asgi_server})
        return refused.value.response.status_code

    assert asyncio.run(socket()) == 403
