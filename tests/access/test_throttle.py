"""One login throttle for every way in: the login page, Django's admin, API tokens; an increasing delay per
user name, a limit per client address, and X-Forwarded-For believed only from a trusted proxy."""

from __future__ import annotations

import pytest
from django.urls import reverse

from access.models import ApiToken, AuditEntry
from tests.factories import PASSWORD, UserFactory
from tests.support import wait_until

pytestmark = pytest.mark.django_db


def fail(client, username: str, times: int, **extra: str) -> None:
    for _ in range(times):
        client.post(reverse("login"), {"username": username, "password": "wrong"}, **extra)


def logs_in(client, url: str, username: str, **extra: str) -> bool:
    client.post(url, {"username": username, "password": PASSWORD, "next": "/"}, **extra)
    answer = "_auth_user_id" in client.session
    client.logout()
    return answer


def test_the_admin_login_is_throttled_with_the_login_page(client, settings) -> None:
    settings.PANEL_LOGIN_DELAY = 60
    user = UserFactory(is_staff=True, is_superuser=True)
    fail(client, user.username, settings.PANEL_LOGIN_FREE_TRIES)
    assert not logs_in(client, reverse("login"), user.username)
    # Neither the admin's login (another form, the same backend) nor wrong passwords there get through.
    for _ in range(12):
        client.post("/admin/login/", {"username": user.username, "password": "wrong"})
    assert not logs_in(client, "/admin/login/", user.username)
    assert not AuditEntry.objects.filter(action="login", result="ok").exists()
    assert AuditEntry.objects.filter(action="login", result="denied", detail__startswith="throttled").count() >= 13


def test_the_owner_gets_in_once_the_delay_has_passed(client, settings) -> None:
    settings.PANEL_LOGIN_DELAY = 0.5
    user = UserFactory()
    fail(client, user.username, settings.PANEL_LOGIN_FREE_TRIES)
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert "too many failed logins" in response.content.decode() and "try again in 1 s" in response.content.decode()
    wait_until(lambda: logs_in(client, reverse("login"), user.username), 10, "the owner to log in after the delay")


def test_one_address_failing_for_many_names_is_stopped_but_not_the_others(client, settings) -> None:
    settings.PANEL_LOGIN_ADDRESS_LIMIT = 6
    owner = UserFactory()
    for i in range(6):
        fail(client, f"guess{i}", 1, REMOTE_ADDR="10.9.9.9")
    assert not logs_in(client, reverse("login"), owner.username, REMOTE_ADDR="10.9.9.9")
    assert logs_in(client, reverse("login"), owner.username, REMOTE_ADDR="10.1.1.1")


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(client, settings) -> None:
    settings.PANEL_LOGIN_ADDRESS_LIMIT = 3
    owner = UserFactory()
    for i in range(3):
        fail(client, f"guess{i}", 1, HTTP_X_FORWARDED_FOR="203.0.113.7")
    # Not trusted: the header is the attacker's to write, the address is the proxy's (every client's).
    assert not logs_in(client, reverse("login"), owner.username, HTTP_X_FORWARDED_FOR="198.51.100.1")
    settings.PANEL_TRUSTED_PROXIES = ["127.0.0.1"]
    for i in range(3):
        fail(client, f"other{i}", 1, HTTP_X_FORWARDED_FOR="203.0.113.8")
    assert not logs_in(client, reverse("login"), owner.username, HTTP_X_FORWARDED_FOR="203.0.113.8")
    assert logs_in(client, reverse("login"), owner.username, HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert AuditEntry.objects.filter(address="203.0.113.8", result="failed").count() == 3


def test_api_tokens_are_throttled_too(client, settings, node) -> None:
    settings.PANEL_LOGIN_DELAY = 60
    user = UserFactory()
    token = ApiToken(user=user, tokenid="ci")
    secret = token.set_new_secret()
    token.save()
    url = f"/api2/json/nodes/{node.name}/tasks"
    for _ in range(settings.PANEL_LOGIN_FREE_TRIES):
        assert client.get(url, HTTP_AUTHORIZATION=f"PVEAPIToken={token.full_id}=wrong").status_code == 401
    response = client.get(url, HTTP_AUTHORIZATION=f"PVEAPIToken={token.full_id}={secret}")
    assert response.status_code == 401 and "too many failed logins" in response.json()["message"]


def test_the_audit_log_is_append_only_and_bounded(settings) -> None:
    from access.audit import ANONYMOUS_PRUNE_EVERY, record

    entry = record(None, "login", "x@pam", AuditEntry.Result.FAILED, username="x@pam")
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()
    entry.detail = "rewritten"
    with pytest.raises(PermissionError):
        entry.save()
    settings.PANEL_AUDIT_ANONYMOUS_ROWS = 10
    for _ in range(ANONYMOUS_PRUNE_EVERY * 2):
        record(None, "login", "x@pam", AuditEntry.Result.FAILED, username="x@pam")
    assert AuditEntry.objects.filter(user=None).count() <= 10 + ANONYMOUS_PRUNE_EVERY


def test_the_admin_cannot_delete_audit_rows(admin_client) -> None:
    from access.audit import record

    entry = record(None, "login", "x@pam", AuditEntry.Result.FAILED, username="x@pam")
    response = admin_client.post(f"/admin/access/auditentry/{entry.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
