"""ACL resolution, pool quotas, API tokens, the audit log and login throttling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from access import permissions
from access.models import ApiToken, AuditEntry, Role
from guests.models import Guest
from guests.services import CreateRequest, move_to_pool, request_action, request_create
from panel.errors import Conflict, Forbidden
from tasks.models import Task
from tests.access import proxmox_roles, reference
from tests.access.reference import Acl
from tests.factories import PASSWORD, AdminFactory, GuestFactory, PoolFactory, UserFactory, grant
from tests.support import PREFIX

pytestmark = pytest.mark.django_db


def fresh(user):
    permissions.invalidate(user)
    return user


def test_superuser_is_root_and_anonymous_has_nothing() -> None:
    from django.contrib.auth.models import AnonymousUser

    root = AdminFactory()
    assert permissions.has_privilege(root, "Permissions.Modify", "/vms/100")
    assert not permissions.has_privilege(AnonymousUser(), "VM.Audit", "/")
    with pytest.raises(ValueError):
        permissions.has_privilege(root, "VM.Fly", "/")


def test_propagation_and_exact_path() -> None:
    user = UserFactory()
    grant(user, "PVEAuditor", "/nodes", propagate=False)
    assert permissions.has_privilege(user, "Sys.Audit", "/nodes")
    assert not permissions.has_privilege(user, "Sys.Audit", "/nodes/pve1")
    grant(user, "PVEAuditor", "/", propagate=True)
    fresh(user)
    # /nodes has an entry of its own (not propagating): it decides /nodes, / decides below it? No: the
    # non-propagating entry does not apply to /nodes/pve1, so / (propagating) gives it.
    assert permissions.has_privilege(user, "Sys.Audit", "/nodes/pve1")
    assert permissions.has_privilege(user, "VM.Audit", "/vms/101")


def test_more_specific_path_overrides_and_no_access_denies() -> None:
    user = UserFactory()
    grant(user, "Administrator", "/")
    grant(user, "PVEVMUser", "/vms/101")
    grant(user, "NoAccess", "/vms/102")
    assert permissions.has_privilege(user, "VM.Allocate", "/vms/100")
    assert not permissions.has_privilege(user, "VM.Allocate", "/vms/101")
    assert permissions.has_privilege(user, "VM.PowerMgmt", "/vms/101")
    assert permissions.privileges(user, "/vms/102") == set()


def test_user_entries_override_group_entries_on_one_path() -> None:
    user, group = UserFactory(), Group.objects.create(name="team")
    user.groups.add(group)
    grant(group, "PVEVMAdmin", "/vms")
    assert permissions.has_privilege(user, "VM.Allocate", "/vms/5")
    grant(user, "PVEAuditor", "/vms")
    fresh(user)
    assert not permissions.has_privilege(user, "VM.Allocate", "/vms/5")
    assert permissions.has_privilege(user, "VM.Audit", "/vms/5")
    # A group NoAccess beside another group's grant denies.
    other = Group.objects.create(name="blocked")
    user.groups.add(other)
    grant(other, "NoAccess", "/nodes")
    grant(group, "PVEAuditor", "/nodes")
    assert permissions.privileges(fresh(user), "/nodes/x") == set()


def test_guest_chain_and_sql_filter(node) -> None:
    user = UserFactory()
    team, other = PoolFactory(name="team-a"), PoolFactory(name="other")
    a1, a2 = GuestFactory(node=node, pool=team), GuestFactory(node=node, pool=team)
    b = GuestFactory(node=node, pool=other)
    loose = GuestFactory(node=node)
    group = Group.objects.create(name="team-a-users")
    user.groups.add(group)
    grant(group, "PVEVMUser", "/pool/team-a")
    visible = Guest.objects.visible_to(user)
    assert set(visible) == {a1, a2}
    assert permissions.can_act_on_guest(user, a1, "start")
    assert not permissions.can_act_on_guest(user, a1, "delete")
    assert not permissions.can_act_on_guest(user, a1, "migrate")
    assert not permissions.can_act_on_guest(user, b, "start")
    # A VMID entry beats the pool; / reaches guests without entries of their own.
    grant(user, "NoAccess", f"/vms/{a2.vmid}")
    grant(user, "PVEAuditor", "/")
    fresh(user)
    assert set(Guest.objects.visible_to(user)) == {a1, b, loose}
    assert not permissions.has_guest_privilege(user, "VM.Audit", a2)
    # The SQL filter agrees with the per-object answer on every guest.
    for guest in Guest.objects.select_related("pool"):
        expected = permissions.has_guest_privilege(user, "VM.Audit", guest)
        assert Guest.objects.filter(pk=guest.pk).visible_to(user).exists() == expected


# Where a guest's pool and its own chain meet, as Proxmox's compile_acl_path does it (tests/access/reference.py):
# the pool's roles are added to the guest's own, an entry on the pool applies even if it does not propagate,
# and NoAccess from either side denies.
POOL_CASES = {
    "a non-propagating pool entry reaches its guests": ([Acl("/pool/np", "PVEVMUser", "user", False)], True),
    "the pool adds to a grant on /": ([Acl("/", "PVEVMAdmin", "user"), Acl("/pool/np", "PVEAuditor", "user")],
                                      True),
    "the pool adds to the guest's own entry": ([Acl("/vms/{vmid}", "PVEAuditor", "user"),
                                                Acl("/pool/np", "PVEVMUser", "user")], True),
    "a group's pool entry adds to the user's own entry": ([Acl("/vms/{vmid}", "PVEAuditor", "user"),
                                                           Acl("/pool/np", "PVEVMUser", "group")], True),
    "NoAccess on the pool wins over the guest's own": ([Acl("/vms/{vmid}", "PVEVMAdmin", "user"),
                                                        Acl("/pool/np", "NoAccess", "user")], False),
    "NoAccess on the guest wins over its pool": ([Acl("/vms/{vmid}", "NoAccess", "user"),
                                                  Acl("/pool/np", "PVEVMAdmin", "user")], False),
    "NoAccess on /vms wins over the pool": ([Acl("/vms", "NoAccess", "user"), Acl("/pool/np", "PVEVMAdmin", "user")],
                                            False),
    "a pool's role does not reach guests of another pool": ([Acl("/pool/other", "PVEVMAdmin", "user")], False),
    "/pool propagates to every pool": ([Acl("/pool", "PVEVMUser", "user")], True),
}


@pytest.mark.parametrize("case", POOL_CASES)
def test_a_guest_gets_its_pools_roles_as_proxmox(node, case: str) -> None:
    acls, powered = POOL_CASES[case]
    user, group = UserFactory(), Group.objects.create(name="pool-case")
    user.groups.add(group)
    PoolFactory(name="other")
    pooled = GuestFactory(node=node, pool=PoolFactory(name="np"))
    loose = GuestFactory(node=node)
    acls = [Acl(a.path.format(vmid=pooled.vmid), a.role, a.subject, a.propagate) for a in acls]
    for acl in acls:
        grant(user if acl.subject == "user" else group, acl.role, acl.path, propagate=acl.propagate)
    fresh(user)
    for guest, pool in ((pooled, "np"), (loose, None)):
        expected = reference.privileges_of(acls, f"/vms/{guest.vmid}", pool)
        assert permissions.guest_privileges(user, guest.vmid, pool) == expected, guest
        for privilege in ("VM.Audit", "VM.PowerMgmt", "VM.Allocate"):
            in_sql = Guest.objects.filter(pk=guest.pk).visible_to(user, privilege).exists()
            assert in_sql == (privilege in expected), (guest, privilege)
    assert permissions.has_guest_privilege(user, "VM.PowerMgmt", pooled) == powered


def pool_user(pool, role="PVEVMAdmin", places: bool = False):
    """A user with ``role`` on ``pool``; with ``places``, one who may also put guests on any node."""
    user = UserFactory()
    grant(user, role, pool.path)
    if places:
        grant(user, "PVEAuditor", "/nodes")
        grant(user, "PVEDatastoreUser", "/storage")
    return user


def ct(node, name, pool=None, vcpus=1, memory=64):
    return CreateRequest(node=node, kind="ct", name=name, template="busybox", vcpus=vcpus, memory_mib=memory,
                         pool=pool)


def test_create_lands_in_the_pool_owned_by_the_user_within_quota(node) -> None:
    pool = PoolFactory(name="quota", max_guests=2, max_vcpus=3, max_memory_mib=200)
    user = pool_user(pool, places=True)
    task = request_create(user, ct(node, f"{PREFIX}q1", pool, vcpus=2, memory=100))
    assert task.guest.pool == pool and task.guest.owner == user
    with pytest.raises(Conflict, match="pool quota quota exceeded: vCPUs limit is 3"):
        request_create(user, ct(node, f"{PREFIX}q2", pool, vcpus=2, memory=10))
    with pytest.raises(Conflict, match="memory limit is 200 MiB"):
        request_create(user, ct(node, f"{PREFIX}q2", pool, vcpus=1, memory=101))
    request_create(user, ct(node, f"{PREFIX}q2", pool, vcpus=1, memory=100))  # exactly at the limits
    with pytest.raises(Conflict, match="guests limit is 2"):
        request_create(user, ct(node, f"{PREFIX}q3", pool, vcpus=0, memory=0))
    assert Guest.objects.filter(pool=pool).count() == 2
    # Outside the pool, without VM.Allocate on /vms: refused.
    with pytest.raises(Forbidden):
        request_create(user, ct(node, f"{PREFIX}q4"))
    assert AuditEntry.objects.filter(user=user, action="guest.create", result="failed").count() == 3
    assert AuditEntry.objects.filter(user=user, action="guest.create", result="denied").count() == 1


def test_moving_into_a_pool_checks_its_quota(node) -> None:
    full, empty = PoolFactory(name="full", max_guests=1), PoolFactory(name="empty", max_disk_gib=1)
    GuestFactory(node=node, pool=full)
    guest = GuestFactory(node=node, disk_bytes=2 * 1024**3)
    root = AdminFactory()
    with pytest.raises(Conflict, match="guests limit is 1"):
        move_to_pool(root, guest, full)
    with pytest.raises(Conflict, match="disk limit is 1 GiB"):
        move_to_pool(root, guest, empty)
    assert Guest.objects.get(pk=guest.pk).pool is None


def test_denied_action_changes_nothing_and_is_audited(node) -> None:
    pool = PoolFactory(name="ro")
    guest = GuestFactory(node=node, pool=pool)
    auditor = pool_user(pool, "PVEAuditor")
    with pytest.raises(Forbidden):
        request_action(auditor, guest, "start")
    assert not Task.objects.exists()
    entry = AuditEntry.objects.get(action="guest.start")
    assert entry.result == "denied" and entry.user == auditor


def token_for(user, privsep=True, expires=None) -> tuple[ApiToken, str]:
    token = ApiToken(user=user, tokenid="t1", privsep=privsep, expires_at=expires)
    secret = token.set_new_secret()
    token.save()
    return token, secret


def header(token: ApiToken, secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"PVEAPIToken={token.full_id}={secret}"}


def test_api_tokens_scope_and_expiry(client, node) -> None:
    pool = PoolFactory(name="tok")
    guest = GuestFactory(node=node, pool=pool, state="stopped", backend_id="x")
    user = pool_user(pool, "PVEVMUser")
    token, secret = token_for(user, privsep=True)
    assert token.secret_hash != secret and len(token.secret_hash) == 64
    url = f"/api2/json/nodes/{node.name}/lxc/{guest.vmid}/status/start"
    # Privilege-separated without ACL entries of its own: nothing.
    assert client.post(url, **header(token, secret)).status_code == 404
    grant(token, "PVEAuditor", "/")  # audit only, and never more than the user
    assert client.post(url, **header(token, secret)).status_code == 403
    assert not Task.objects.exists()
    token.acl_entries.all().delete()
    grant(token, "Administrator", "/")  # still capped by the user's PVEVMUser on the pool
    tasks = client.get(f"/api2/json/nodes/{node.name}/tasks", **header(token, secret))
    assert tasks.status_code == 200
    response = client.post(url, **header(token, secret))
    assert response.status_code == 200, response.content
    assert Task.objects.get().user == user
    assert client.post(f"/api2/json/nodes/{node.name}/startall", **header(token, secret)).status_code == 404
    # A wrong secret and an expired token are refused.
    assert client.get(f"/api2/json/nodes/{node.name}/tasks", **header(token, "wrong")).status_code in (401, 403)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(f"/api2/json/nodes/{node.name}/tasks", **header(token, secret))
    assert response.status_code in (401, 403) and "expired" in response.json()["message"]


def test_token_without_privsep_has_its_users_privileges(client, node) -> None:
    user = pool_user(PoolFactory(name="full-token"), "PVEAuditor")
    token, secret = token_for(user, privsep=False)
    response = client.get("/api2/json/nodes", **header(token, secret))
    assert response.status_code == 200 and response.json()["data"] == []
    grant(user, "PVEAuditor", "/")
    assert [n["node"] for n in client.get("/api2/json/nodes", **header(token, secret)).json()["data"]] == [node.name]


def test_failed_logins_are_audited_and_throttled(client) -> None:
    user = UserFactory()
    for _ in range(5):
        response = client.post(reverse("login"), {"username": user.username, "password": "wrong"})
        assert response.status_code == 200
    assert AuditEntry.objects.filter(action="login", result="failed", username=f"{user.username}@pam").count() == 5
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert "too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Another user name from the same address is not throttled; the successful login is audited.
    other = UserFactory()
    response = client.post(reverse("login"), {"username": other.username, "password": PASSWORD})
    assert response.status_code == 302
    assert AuditEntry.objects.filter(action="login", result="ok", user=other).exists()


def test_builtin_roles_have_proxmox_privileges() -> None:
    roles = {r.name: set(r.privileges) for r in Role.objects.filter(builtin=True)}
    assert roles == proxmox_roles.ROLES
    assert "Permissions.Modify" not in roles["PVEAdmin"] and roles["NoAccess"] == set()


def test_node_filter_agrees_with_has_privilege(node) -> None:
    from nodes.models import Node

    other = Node.objects.create(name="mx-other")
    user = UserFactory()
    assert not Node.objects.visible_to(user).exists()
    grant(user, "PVEAuditor", "/nodes")
    assert set(Node.objects.visible_to(fresh(user))) == {node, other}
    grant(user, "NoAccess", "/nodes/mx-other")
    assert list(Node.objects.visible_to(fresh(user))) == [node]
    for row in Node.objects.all():
        assert permissions.has_privilege(user, "Sys.Audit", f"/nodes/{row.name}") == (row == node)


def test_separated_token_sees_only_tasks_it_may_audit(client, node) -> None:
    from tasks.upid import new_upid

    user = UserFactory()
    Task.objects.create(upid=new_upid(node.name, "startall", "", "x@pam"), node=node, user=user, type="startall")
    token, secret = token_for(user, privsep=True)
    url = f"/api2/json/nodes/{node.name}/tasks?source=all"  # queued: not in the archive
    assert client.get(url, **header(token, secret)).json()["total"] == 0
    client.login(username=user.username, password=PASSWORD)
    assert client.get(url).json()["total"] == 1  # the user sees the task they started


def test_a_separated_token_with_audit_rights_cannot_cancel_its_users_tasks(client, node) -> None:
    from tasks.upid import new_upid

    user = UserFactory()
    grant(user, "PVEAuditor", "/")
    task = Task.objects.create(upid=new_upid(node.name, "startall", "", f"{user.username}@pam"), node=node,
                               user=user, type="startall")
    token, secret = token_for(user, privsep=True)
    grant(token, "PVEAuditor", "/")
    url = f"/api2/json/nodes/{node.name}/tasks/{task.upid}"
    assert client.get(f"{url}/status", **header(token, secret)).status_code == 200  # it may see it
    assert client.delete(url, **header(token, secret)).status_code == 403
    task.refresh_from_db()
    assert not task.cancel_requested and task.status == "queued"
    client.login(username=user.username, password=PASSWORD)
    assert client.delete(url).status_code == 200  # its user may
