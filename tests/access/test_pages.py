"""The access management pages: who may use them, and that they work."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from access.models import AclEntry, ApiToken, AuditEntry, Pool, Role
from tests.factories import PASSWORD, UserFactory, grant

pytestmark = pytest.mark.django_db


def login(client, user):
    client.login(username=user.username, password=PASSWORD)
    return client


def test_admin_manages_users_groups_pools_roles_and_acls(admin_client, admin_user) -> None:
    assert admin_client.post("/access/groups/add/", {"name": "team-a"}).status_code == 302
    group = Group.objects.get(name="team-a")
    assert admin_client.post("/access/users/add/", {"username": "alice", "password": "s3cret-pass",
                                                    "is_active": "on", "groups": [group.pk]}).status_code == 302
    assert admin_client.post("/access/pools/add/", {"name": "team-a", "max_guests": 2}).status_code == 302
    role = Role.objects.get(name="PVEVMUser")
    response = admin_client.post("/access/acls/add/", {"path": "/pool/team-a", "group": group.pk,
                                                       "role": role.pk, "propagate": "on"})
    assert response.status_code == 302
    assert AclEntry.objects.get().subject == "@team-a"
    assert admin_client.post("/access/acls/add/", {"path": "/nowhere", "group": group.pk,
                                                   "role": role.pk}).status_code == 400
    assert admin_client.post("/access/roles/add/", {"name": "Starter",
                                                    "privileges": ["VM.Audit", "VM.PowerMgmt"]}).status_code == 302
    assert Role.objects.get(name="Starter").privileges == ["VM.Audit", "VM.PowerMgmt"]
    assert admin_client.post(f"/access/roles/{role.pk}/delete/").status_code == 403  # built-in
    assert Pool.objects.get(name="team-a").max_guests == 2
    for path in ("/access/", "/access/users/", "/access/groups/", "/access/roles/", "/access/acls/",
                 "/access/pools/", "/access/audit/"):
        assert admin_client.get(path).status_code == 200, path
    assert "acl.create" in admin_client.get("/access/audit/").content.decode()
    assert AuditEntry.objects.filter(action="acl.create", user=admin_user).exists()


def test_pages_need_their_privilege(client) -> None:
    user = UserFactory()
    login(client, user)
    for path in ("/access/users/", "/access/roles/", "/access/acls/", "/access/pools/", "/access/audit/"):
        assert client.get(path).status_code == 403, path
    assert client.post("/access/pools/add/", {"name": "mine"}).status_code == 403
    assert not Pool.objects.exists()
    grant(user, "PVEPoolAdmin", "/")
    assert client.get("/access/pools/").status_code == 200
    assert client.get("/access/acls/").status_code == 403


def test_tokens_are_shown_once_and_stored_hashed(client) -> None:
    user = UserFactory()
    login(client, user)
    response = client.post("/access/tokens/add/", {"tokenid": "ci", "privsep": "on"})
    secret = response.content.decode().split('id="token-secret">')[1].split("<")[0]
    token = ApiToken.objects.get(user=user)
    assert token.check_secret(secret) and secret not in token.secret_hash
    assert secret not in client.get("/access/tokens/").content.decode()
    other = UserFactory()
    login(client, other)
    assert client.post(f"/access/tokens/{token.pk}/delete/").status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_acl_paths_are_canonical(admin_client) -> None:
    """/vms/0101 would match differently in lists and checks: refused; slashes are folded as Proxmox does."""
    user = UserFactory()
    role = Role.objects.get(name="PVEVMUser")
    for path in ("/vms/0101", "/vms/99", "/vms/abc", "/nowhere", "/vms/101/disk"):
        response = admin_client.post("/access/acls/add/", {"path": path, "user": user.pk, "role": role.pk})
        assert response.status_code == 400, path
        assert "invalid ACL path" in response.content.decode(), path
    assert admin_client.post("/access/acls/add/", {"path": "//vms//101/", "user": user.pk,
                                                   "role": role.pk}).status_code == 302
    assert list(AclEntry.objects.values_list("path", flat=True)) == ["/vms/101"]
