"""Logging in as Proxmox clients do, over HTTPS on a real server: tickets (cookie, CSRF header, renewal),
API tokens in both header forms, realms, and Proxmox's 401 and 403 with the reason in the status line."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
import requests
from proxmoxer import AuthenticationError, ResourceException

from access.services import create_token
from tests.factories import PASSWORD, AdminFactory, UserFactory, grant
from tests.support import wait_until

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture
def root(transactional_db):
    return AdminFactory(username="root")


def test_password_login_reads_version_and_nodes(proxmox, root, node) -> None:
    api = proxmox(user="root@pam", password=PASSWORD)
    version = api.version.get()
    assert version["release"] == "9.1" and version["version"].startswith("9.1.")
    assert re.fullmatch(r"[0-9a-f]{8,64}", version["repoid"])
    [listed] = [n for n in api.nodes.get() if n["node"] == node.name]
    assert listed["status"] == "online" and listed["maxcpu"] == node.cpus
    ticket, csrf = api.get_tokens()
    assert ticket.startswith("PVE:root@pam:") and re.fullmatch(r"[0-9A-F]{8}:\S+", csrf)


def test_a_ticket_is_renewed_by_posting_it_as_the_password(https_server, root) -> None:
    first = requests.post(f"{https_server}/api2/json/access/ticket", verify=False, timeout=30,
                          data={"username": "root", "realm": "pam", "password": PASSWORD}).json()["data"]
    assert first["username"] == "root@pam" and first["cap"]["vms"]["VM.Allocate"] == 1
    again = requests.post(f"{https_server}/api2/json/access/ticket", verify=False, timeout=30,
                          data={"username": "root@pam", "password": first["ticket"]}).json()["data"]
    assert again["username"] == "root@pam" and again["ticket"].startswith("PVE:root@pam:")
    # A ticket is no password of another user.
    other = requests.post(f"{https_server}/api2/json/access/ticket", verify=False, timeout=30,
                          data={"username": "someone@pam", "password": first["ticket"]})
    assert (other.status_code, other.reason, other.json()["data"]) == (401, "authentication failure", None)


def test_writes_with_a_ticket_need_the_csrf_token(https_server, root, node) -> None:
    login = requests.post(f"{https_server}/api2/json/access/ticket", verify=False, timeout=30,
                          data={"username": "root@pam", "password": PASSWORD}).json()["data"]
    cookie = {"PVEAuthCookie": quote(login["ticket"], safe="")}
    url = f"{https_server}/api2/json/pools"
    refused = requests.post(url, data={"poolid": "csrf-pool"}, cookies=cookie, verify=False, timeout=30)
    assert (refused.status_code, refused.reason) == (401, "Permission denied - invalid csrf token")
    done = requests.post(url, data={"poolid": "csrf-pool"}, cookies=cookie, verify=False, timeout=30,
                         headers={"CSRFPreventionToken": login["CSRFPreventionToken"]})
    assert done.status_code == 200, done.text
    # Reads need none; the ticket may also come in an Authorization header.
    header = {"Authorization": f"PVEAuthCookie={login['ticket']}"}
    pools = requests.get(url, headers=header, verify=False, timeout=30).json()["data"]
    assert {"poolid": "csrf-pool", "comment": ""} in pools


def test_bad_passwords_and_unknown_realms_are_refused(proxmox, https_server, root) -> None:
    with pytest.raises(AuthenticationError):
        proxmox(user="root@pam", password="wrong")
    with pytest.raises(AuthenticationError):
        proxmox(user="root@ldap", password=PASSWORD)
    nothing = requests.get(f"{https_server}/api2/json/nodes", verify=False, timeout=30)
    assert (nothing.status_code, nothing.reason) == (401, "No ticket")


def test_tokens_in_both_header_forms_and_a_bad_one(proxmox, https_server, root, node) -> None:
    token, secret = create_token(root, "ci", privsep=False)
    assert UUID.match(secret)  # some clients check the shape
    api = proxmox(user="root@pam", token_name="ci", token_value=secret)
    vms = api.cluster.resources.get(type="node")
    assert [r["node"] for r in vms] == [node.name]
    spaced = requests.get(f"{https_server}/api2/json/cluster/nextid", verify=False, timeout=30,
                          headers={"Authorization": f"PVEAPIToken root@pam!ci={secret}"})
    assert spaced.status_code == 200 and spaced.json()["data"].isdigit()
    bad = proxmox(user="root@pam", token_name="ci", token_value="00000000-0000-0000-0000-000000000000")
    with pytest.raises(ResourceException) as refused:
        bad.version.get()
    assert refused.value.status_code == 401 and refused.value.content == "Authentication failed!"


def test_a_pve_realm_user_without_rights_gets_403(proxmox, root, node) -> None:
    bob = UserFactory(username="bob@pve")
    api = proxmox(user="bob@pve", password=PASSWORD)
    assert api.nodes.get() == [] and api.cluster.resources.get() == []
    with pytest.raises(ResourceException) as refused:
        api.cluster.status.get()
    assert refused.value.status_code == 403 and "Sys.Audit" in refused.value.content
    grant(bob, "PVEAuditor", "/")  # the server reads the access version again within a second
    assert [n["node"] for n in wait_until(api.nodes.get, 10, "the grant to reach the server")] == [node.name]
    assert {e["type"] for e in api.cluster.status.get()} == {"cluster", "node"}


def test_ticket_logins_are_throttled_and_audited(client, settings, db) -> None:
    from access.models import AuditEntry

    settings.PANEL_LOGIN_DELAY = 60
    UserFactory(username="frank")
    for _ in range(settings.PANEL_LOGIN_FREE_TRIES):
        response = client.post("/api2/json/access/ticket", {"username": "frank@pam", "password": "wrong"})
        assert (response.status_code, response.reason_phrase) == (401, "authentication failure")
    # The right password, too soon: refused without being checked.
    response = client.post("/api2/json/access/ticket", {"username": "frank@pam", "password": PASSWORD})
    assert response.status_code == 401 and "too many failed logins" in response.reason_phrase
    failed = AuditEntry.objects.filter(action="login", username="frank@pam", result="failed").count()
    assert failed == settings.PANEL_LOGIN_FREE_TRIES
    assert AuditEntry.objects.filter(action="login", username="frank@pam", result="denied").exists()
