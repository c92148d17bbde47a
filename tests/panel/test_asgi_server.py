"""The ASGI application behind a real daphne server, as `make run` serves it."""

from __future__ import annotations

import requests

from tests.factories import PASSWORD


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
