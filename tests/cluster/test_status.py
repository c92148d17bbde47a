"""/status: public, read-only, aggregates only."""

from __future__ import annotations

import pytest
from django.test import override_settings

from tests.factories import GuestFactory
from tests.support import PREFIX

pytestmark = pytest.mark.django_db


def test_status_is_public_and_leaks_no_guest_names(client, node) -> None:
    GuestFactory(node=node, name=f"{PREFIX}secret-web", state="running")
    GuestFactory(node=node, name=f"{PREFIX}secret-db", state="stopped", kind="vm")
    page = client.get("/status")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Nodes online" in body and "1 of 1" in body
    data = client.get("/status.json").json()["data"]
    assert data["nodes"] == {"online": 1, "total": 1} and data["health"] == "ok"
    assert data["guests"]["ct"]["running"] >= 1 and data["guests"]["vm"]["stopped"] >= 1
    for text in (body, str(data)):
        assert f"{PREFIX}secret" not in text and node.name not in text and "127.0.0.1" not in text
    assert "<form" not in body.split("<main>")[1]  # nothing that acts


def test_status_can_require_a_login(client, node) -> None:
    with override_settings(PANEL_PUBLIC_STATUS=False):
        assert client.get("/status").status_code == 302
        assert client.get("/status.json").status_code == 302
