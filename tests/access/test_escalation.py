"""Nobody gives themselves or anyone else more than they hold, and superusers are changed by superusers only:
through every page that changes who may do what. Each refusal is a 403 that changed nothing and left a
"denied" audit row."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from access.models import AclEntry, AuditEntry, Role
from tests.factories import PASSWORD, AdminFactory, UserFactory, grant
from tests.support import logged_in, post_form

pytestmark = pytest.mark.django_db
User = get_user_model()


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


def user_form(user, **changes) -> dict:
    data = {"username": user.username, "email": user.email, "first_name": "", "last_name": "",
            "is_active": "on" if user.is_active else "", "groups": list(user.groups.values_list("pk", flat=True)),
            "password": ""}
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def denied(response, action: str, actor) -> None:
    assert response.status_code == 403, response.content.decode()[:500]
    assert AuditEntry.objects.filter(action=action, user=actor, result="denied").exists()


def test_a_pveadmin_cannot_take_over_the_superuser(client) -> None:
    root = AdminFactory(username="rootish")
    admin = UserFactory(username="pveadmin")
    grant(admin, "PVEAdmin", "/")
    login(client, admin)
    assert client.get(f"/access/users/{root.pk}/").status_code == 200  # User.Modify lets them see it
    denied(client.post(f"/access/users/{root.pk}/", user_form(root, password="taken-over-123")), "user.update", admin)
    denied(client.post(f"/access/users/{root.pk}/", user_form(root, is_active="")), "user.update", admin)
    denied(client.post(f"/access/users/{root.pk}/delete/"), "user.delete", admin)
    root.refresh_from_db()
    assert root.check_password(PASSWORD) and root.is_active
    # ...nor log in as it, nor reach the ACL page.
    client.logout()
    assert not client.login(username=root.username, password="taken-over-123")
    login(client, admin)
    assert client.get("/access/acls/add/").status_code == 403


def test_no_password_reset_of_someone_holding_more(client) -> None:
    admin = UserFactory(username="pveadmin2")
    grant(admin, "PVEAdmin", "/")
    powerful = UserFactory(username="powerful")
    grant(powerful, "Administrator", "/nodes")  # Sys.PowerMgmt, which PVEAdmin does not hold
    weak = UserFactory(username="weak")
    grant(weak, "PVEVMUser", "/vms")
    login(client, admin)
    denied(client.post(f"/access/users/{powerful.pk}/", user_form(powerful, password="now-mine-123")),
           "user.update", admin)
    powerful.refresh_from_db()
    assert powerful.check_password(PASSWORD)
    assert client.post(f"/access/users/{weak.pk}/", user_form(weak, password="reset-by-admin-1")).status_code == 302
    weak.refresh_from_db()
    assert weak.check_password("reset-by-admin-1")


def test_group_membership_needs_the_right_on_the_group_and_gives_no_more_than_held(client) -> None:
    admins = Group.objects.create(name="admins")
    grant(admins, "Administrator", "/")
    helpdesk = Group.objects.create(name="helpdesk")
    grant(helpdesk, "PVEVMUser", "/vms")
    manager = UserFactory(username="manager")
    grant(manager, "PVEUserAdmin", "/access/groups/helpdesk")
    grant(manager, "PVEVMUser", "/vms")
    grant(manager, "PVEAuditor", "/")
    someone = UserFactory(username="someone")
    login(client, manager)
    # Joining a group of administrators: not their group to manage, and more than they hold.
    # (The users page itself needs User.Modify on /access/groups.)
    grant(manager, "PVEUserAdmin", "/access/groups")
    grant(manager, "NoAccess", "/access/groups/admins")
    denied(client.post(f"/access/users/{someone.pk}/", user_form(someone, groups=[admins.pk])), "user.update",
           manager)
    denied(client.post(f"/access/users/{manager.pk}/", user_form(manager, groups=[admins.pk])), "user.update",
           manager)
    assert not admins.user_set.exists()
    # The group they manage, whose privileges they hold: fine.
    response = client.post(f"/access/users/{someone.pk}/", user_form(someone, groups=[helpdesk.pk]))
    assert response.status_code == 302
    assert list(someone.groups.all()) == [helpdesk]


def test_acl_entries_give_no_more_than_the_granter_holds(client) -> None:
    granter = UserFactory(username="granter")
    Role.objects.create(name="PoolKeeper", privileges=["Permissions.Modify", "VM.Audit", "VM.PowerMgmt"])
    grant(granter, "PoolKeeper", "/pool/a")
    grant(granter, "PoolKeeper", "/")  # the ACL page itself needs Permissions.Modify on /
    other = UserFactory(username="other")
    login(client, granter)
    vm_admin = Role.objects.get(name="PVEVMAdmin")
    vm_user = Role.objects.get(name="PVEVMUser")
    for subject in (granter, other):
        response = client.post("/access/acls/add/", {"path": "/pool/a", "user": subject.pk, "role": vm_admin.pk,
                                                     "propagate": "on"})
        denied(response, "acl.create", granter)
    assert not AclEntry.objects.filter(role=vm_admin).exists()
    # Within what they hold (VM.Audit, VM.PowerMgmt are in PVEVMUser, but not VM.Console...): refused too.
    denied(client.post("/access/acls/add/", {"path": "/pool/a", "user": other.pk, "role": vm_user.pk}),
           "acl.create", granter)
    weaker = Role.objects.create(name="Watcher", privileges=["VM.Audit"])
    assert client.post("/access/acls/add/", {"path": "/pool/a", "user": other.pk, "role": weaker.pk,
                                             "propagate": "on"}).status_code == 302


def test_removing_a_noaccess_entry_is_a_gain_too(client) -> None:
    granter = UserFactory(username="granter2")
    grant(granter, "PVEAuditor", "/")
    Role.objects.create(name="AclKeeper", privileges=["Permissions.Modify", "Sys.Audit"])
    grant(granter, "AclKeeper", "/")
    other = UserFactory(username="masked")
    grant(other, "PVEVMAdmin", "/vms")
    mask = grant(other, "NoAccess", "/vms/150")
    login(client, granter)
    denied(client.post(f"/access/acls/{mask.pk}/delete/"), "acl.delete", granter)
    assert AclEntry.objects.filter(pk=mask.pk).exists()


def test_roles_cannot_be_grown_past_what_the_editor_holds(client) -> None:
    editor = UserFactory(username="editor")
    grant(editor, "PVEAuditor", "/")
    own = Role.objects.create(name="Mine", privileges=["VM.Audit"])
    Role.objects.create(name="RoleEditor", privileges=["Sys.Modify"])
    grant(editor, "RoleEditor", "/access")
    grant(editor, "Mine", "/vms")
    login(client, editor)
    response = client.post(f"/access/roles/{own.pk}/", {"name": "Mine", "privileges": ["VM.Audit", "VM.Allocate"]})
    denied(response, "role.update", editor)
    own.refresh_from_db()
    assert own.privileges == ["VM.Audit"]
    builtin = Role.objects.get(name="PVEVMUser")
    denied(client.post(f"/access/roles/{builtin.pk}/", {"name": "PVEVMUser", "privileges": ["VM.Audit"]}),
           "role.update", editor)


def test_the_user_edit_page_shows_who_is_logged_in(client) -> None:
    admin = AdminFactory(username="the-admin")
    edited = UserFactory(username="edited-one")
    login(client, admin)
    page = client.get(f"/access/users/{edited.pk}/").content.decode()
    header = page.split("</header>")[0]
    assert "the-admin@pam" in header and "edited-one" not in header


@pytest.mark.django_db(transaction=True)
def test_over_a_real_server_the_takeover_fails_at_every_step(asgi_server: str) -> None:
    root = AdminFactory(username="real-root")
    admin = UserFactory(username="real-pveadmin")
    grant(admin, "PVEAdmin", "/")
    session = logged_in(asgi_server, admin.username)
    url = f"{asgi_server}/access/users/{root.pk}/"
    assert session.get(url, timeout=10).status_code == 200
    response = post_form(session, url, {"username": root.username, "is_active": "on", "password": "taken-over-123"})
    assert response.status_code == 403, response.text[:300]
    assert post_form(session, f"{url}delete/", {}).status_code == 403
    root.refresh_from_db()
    assert root.check_password(PASSWORD) and root.is_active
    # The password it tried does not let anyone in as the superuser.
    with pytest.raises(AssertionError, match="could not log in"):
        logged_in(asgi_server, root.username, "taken-over-123")
