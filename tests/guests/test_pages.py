"""Pages and bad input: every refusal says why and leaves nothing behind."""

from __future__ import annotations

from datetime import timedelta

import docker
import libvirt
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from guests.choices import GuestKind, GuestState
from guests.models import Guest
from tasks.models import Task
from tests.factories import PASSWORD, GuestFactory, PoolFactory, UserFactory, grant
from tests.support import CT_TEMPLATE, PREFIX, VM_TEMPLATE, ours, wait_for_task

pytestmark = pytest.mark.django_db


def create_url(kind: str) -> str:
    return reverse("guest_create", args=[kind])


def ct_form(node, **overrides) -> dict:
    return {"node": node.name, "template": CT_TEMPLATE, "name": f"{PREFIX}web", "vcpus": 1, "memory_mib": 64,
            **overrides}


def vm_form(node, **overrides) -> dict:
    return {"node": node.name, "template": VM_TEMPLATE, "name": f"{PREFIX}vm", "vcpus": 1, "memory_mib": 128,
            "disk_gib": 1, **overrides}


def test_pages_need_a_login(client) -> None:
    for url in (reverse("datacenter"), reverse("task_list"), create_url("ct")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_datacenter_shows_node_usage_and_the_guest_list_the_guests(admin_client, node) -> None:
    guest = GuestFactory(node=node, name=f"{PREFIX}shown", state=GuestState.RUNNING, memory_used=10 * 1024**2)
    page = admin_client.get(reverse("datacenter")).content.decode()
    assert node.name in page and "online" in page
    assert f"{node.cpus} CPUs" in page
    assert "1 running, 0 stopped (1 in all)" in page
    assert "docker" in page and "libvirt" in page
    listed = admin_client.get(reverse("guest_list")).content.decode()
    assert guest.name in listed and "running" in listed and "10.00 MiB" in listed


def test_node_page_lists_templates(admin_client, node) -> None:
    page = admin_client.get(node.get_absolute_url()).content.decode()
    assert CT_TEMPLATE in page and VM_TEMPLATE in page


def test_login_page_works(client, admin_user) -> None:
    response = client.post(reverse("login"), {"username": admin_user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("datacenter")).status_code == 200


def engine_guests(docker_client: docker.DockerClient) -> tuple[set[str], set[str]]:
    """This run's containers and libvirt domains on the local node's engines."""
    conn = libvirt.open(settings.PANEL_LIBVIRT_URI)
    try:
        domains = {d.name() for d in conn.listAllDomains() if d.name().startswith(PREFIX)}
    finally:
        conn.close()
    return ours(docker_client.containers.list(all=True)), domains


@pytest.mark.engines
@pytest.mark.parametrize(
    ("kind", "overrides", "field", "message"),
    [
        ("ct", {"template": "nope"}, "template", "template &#x27;nope&#x27; does not exist on node"),
        ("vm", {"template": "nope"}, "template", "template &#x27;nope&#x27; does not exist on node"),
        ("ct", {"name": "bad name!"}, "name", "is not a valid guest name"),
        ("ct", {"name": "-dash"}, "name", "is not a valid guest name"),
        ("ct", {"name": "x" * 64}, "name", "at most 63 characters"),
        ("vm", {"name": "a;rm -rf /"}, "name", "is not a valid guest name"),
        ("ct", {"memory_mib": 2}, "memory_mib", "greater than or equal to 4"),
        ("vm", {"memory_mib": 16}, "memory_mib", "needs at least 96 MiB"),
        ("ct", {"memory_mib": 2 * 1024**2}, "memory_mib", "has only"),  # 2 TiB: within the bound, past the node
        ("ct", {"vcpus": 0}, "vcpus", "greater than or equal to 1"),
        ("vm", {"vcpus": 64}, "vcpus", "has only"),
        ("vm", {"disk_gib": 0}, "disk_gib", "greater than or equal to 1"),
        ("vm", {"disk_gib": 100000}, "disk_gib", "less than or equal to 4096"),
        ("ct", {"vmid": 99}, "vmid", "greater than or equal to 100"),
        ("ct", {"vmid": "abc"}, "vmid", "Enter a whole number"),
        ("ct", {"command": "sh -c 'unclosed"}, "command", "the command cannot be read"),
        ("ct", {"environment": "1X=y"}, "environment", "is not NAME=value"),
        ("ct", {"ports": "8080:99999"}, "ports", "port 99999 is not within 1 and 65535"),
        ("ct", {"ports": "8080:80\n8080:81"}, "ports", "host port 8080/tcp is published twice"),
        ("ct", {"volumes": "/etc:/host-etc"}, "volumes", "only named volumes, never a path of the node"),
        ("ct", {"volumes": "data:../up"}, "volumes", "is not an absolute path in the container"),
        ("ct", {"restart": "sometimes"}, "restart", "Select a valid choice"),
    ],
)
def test_bad_create_input_is_refused_with_a_message(
    admin_client, live_node, docker_client: docker.DockerClient, kind: str, overrides: dict, field: str, message: str
) -> None:
    """With the node's real worker running: a create the form let through would reach it and make the guest,
    so once every task queued has ended the engines must hold nothing new."""
    before = engine_guests(docker_client)
    data = (vm_form if kind == "vm" else ct_form)(live_node, **overrides)
    response = admin_client.post(create_url(kind), data)
    for task in Task.objects.all():
        wait_for_task(task, timeout=120)
    assert engine_guests(docker_client) == before
    assert response.status_code == 400
    assert message in response.content.decode()
    assert field in response.context["form"].errors
    assert not Guest.objects.exists() and not Task.objects.exists()


def test_duplicate_name_and_vmid_are_refused(admin_client, node) -> None:
    GuestFactory(node=node, vmid=150, name=f"{PREFIX}taken", kind=GuestKind.CT)
    response = admin_client.post(create_url("ct"), ct_form(node, name=f"{PREFIX}taken", vmid=150))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "already exists" in errors["name"][0]
    assert "VMID 150 is already in use" in errors["vmid"][0]
    assert Guest.objects.filter(name=f"{PREFIX}taken").count() == 1 and not Task.objects.exists()


def test_offline_node_is_refused(admin_client, node) -> None:
    node.last_seen = timezone.now() - timedelta(hours=1)
    node.save()
    response = admin_client.post(create_url("ct"), ct_form(node))
    assert response.status_code == 400
    assert f"node {node.name} is offline" in response.content.decode()
    assert not Guest.objects.filter(name=f"{PREFIX}web").exists() and not Task.objects.exists()


def test_engine_down_is_refused(admin_client, node) -> None:
    node.docker_url = "unix:///nonexistent/docker.sock"
    node.save()
    from nodes.poll import poll_node

    poll_node(node.name)
    response = admin_client.post(create_url("ct"), ct_form(node))
    assert response.status_code == 400
    page = response.content.decode()
    assert f"the docker engine of node {node.name} is unavailable" in page
    assert "is not reachable" in page
    assert not Guest.objects.filter(name=f"{PREFIX}web").exists() and not Task.objects.exists()


@pytest.mark.parametrize(
    ("state", "action", "message"),
    [
        (GuestState.STOPPED, "shutdown", f"cannot shutdown CT {{vmid}} ({PREFIX}state): it is stopped"),
        (GuestState.STOPPED, "suspend", "cannot pause"),
        (GuestState.RUNNING, "start", f"cannot start CT {{vmid}} ({PREFIX}state): it is running"),
        (GuestState.RUNNING, "resume", "cannot resume"),
        (GuestState.CREATING, "start", "it is creating"),
    ],
)
def test_action_in_wrong_state_is_refused(admin_client, node, state: str, action: str, message: str) -> None:
    guest = GuestFactory(node=node, name=f"{PREFIX}state", state=state)
    response = admin_client.post(reverse("guest_action", args=[guest.vmid, action]), follow=True)
    assert message.format(vmid=guest.vmid) in response.content.decode()
    assert not Task.objects.exists()


def test_delete_needs_the_vmid_typed(admin_client, node) -> None:
    guest = GuestFactory(node=node, name=f"{PREFIX}keep", state=GuestState.STOPPED)
    url = reverse("guest_action", args=[guest.vmid, "delete"])
    assert "Type the VMID" in admin_client.get(url).content.decode()
    response = admin_client.post(url, {"confirm": "wrong"})
    assert response.status_code == 400
    assert f"type the VMID {guest.vmid} to confirm" in response.content.decode()
    assert Guest.objects.filter(pk=guest.pk).exists() and not Task.objects.exists()


def test_unknown_action_is_404(admin_client, node) -> None:
    guest = GuestFactory(node=node)
    assert admin_client.post(reverse("guest_action", args=[guest.vmid, "explode"])).status_code == 404


def test_ordinary_user_sees_only_granted_guests_and_cannot_create(client, node) -> None:
    """Owning a guest grants nothing by itself: ACLs do (here PVEVMUser on the guest's pool)."""
    user = UserFactory()
    pool = PoolFactory(name="mine")
    grant(user, "PVEVMUser", pool.path)
    mine = GuestFactory(node=node, name=f"{PREFIX}mine", pool=pool)
    GuestFactory(node=node, name=f"{PREFIX}theirs", owner=user)
    client.login(username=user.username, password=PASSWORD)
    page = client.get(reverse("guest_list")).content.decode()
    assert f"{PREFIX}mine" in page and f"{PREFIX}theirs" not in page
    assert client.get(reverse("guest_detail", args=[mine.vmid + 1])).status_code == 404
    response = client.post(create_url("ct"), ct_form(node))
    assert response.status_code == 403 and "you may not create guests" in response.content.decode()
    assert not Guest.objects.filter(name=f"{PREFIX}web").exists()


def test_pool_user_creates_in_their_pool_up_to_its_quota(client, node) -> None:
    """VM.Allocate on /pool/team-a: the form offers (and requires) the pool; the guest lands there, theirs."""
    user = UserFactory()
    pool = PoolFactory(name="team-a", max_guests=1)
    grant(user, "PVEVMAdmin", pool.path)
    grant(user, "PVEAuditor", f"/nodes/{node.name}")  # the node they create on, and its storage
    grant(user, "PVEDatastoreUser", "/storage")
    client.login(username=user.username, password=PASSWORD)
    form_page = client.get(create_url("ct")).content.decode()
    assert 'name="pool"' in form_page and "team-a" in form_page
    assert client.post(create_url("ct"), ct_form(node)).status_code == 400  # the pool is required
    response = client.post(create_url("ct"), ct_form(node, pool="team-a"))
    assert response.status_code == 302
    guest = Guest.objects.get(name=f"{PREFIX}web")
    assert guest.pool == pool and guest.owner == user
    response = client.post(create_url("ct"), ct_form(node, name=f"{PREFIX}web2", pool="team-a"))
    assert response.status_code == 400
    assert "pool team-a quota exceeded: guests limit is 1" in response.content.decode()
    assert not Guest.objects.filter(name=f"{PREFIX}web2").exists()


def test_a_long_name_is_refused_with_a_message_never_cut(admin_client, node) -> None:
    form = admin_client.get(create_url("ct")).content.decode()
    name_input = form.split('name="name"')[1].split(">")[0]
    assert "maxlength" not in name_input  # a browser would cut the name silently at it
    response = admin_client.post(create_url("ct"), ct_form(node, name=PREFIX + "x" * 300))
    assert response.status_code == 400 and "at most 63 characters" in response.content.decode()
    assert not Guest.objects.exists() and not Task.objects.exists()


def test_numbers_past_their_bounds_are_refused_with_a_message(admin_client, node) -> None:
    response = admin_client.post(create_url("ct"), ct_form(node, startup_order="9" * 20))
    assert response.status_code == 400 and "startup_order" in response.context["form"].errors
    api = f"/api2/json/nodes/{node.name}/tasks"
    for query in ("limit=1000000000", "limit=100000000000000000000", "start=²", "vmid=③"):
        response = admin_client.get(f"{api}?{query}")
        assert response.status_code == 400, query
        assert query.split("=")[0] in response.json()["errors"], query
    assert not Guest.objects.exists() and not Task.objects.exists()


def test_no_create_on_a_node_the_user_may_not_see_nor_a_word_of_it(client, node) -> None:
    """PVEVMAdmin on a pool, NoAccess on the node: the node is not offered, not described, not used."""
    from nodes.models import Node

    other = Node.objects.create(name=f"{node.name}-b", last_seen=timezone.now(), memory_total=7 * 1024**3,
                                cpus=3, engines={"docker": {"ok": True}, "libvirt": {"ok": True}})
    pool = PoolFactory(name="team-a")
    user = UserFactory()
    grant(user, "PVEVMAdmin", pool.path)
    grant(user, "PVEAuditor", "/nodes")
    grant(user, "PVEDatastoreUser", "/storage")
    grant(user, "NoAccess", f"/nodes/{node.name}")
    client.login(username=user.username, password=PASSWORD)
    form = client.get(create_url("ct")).content.decode()
    assert f'value="{other.name}"' in form and f'value="{node.name}"' not in form
    response = client.post(create_url("ct"), ct_form(node, pool="team-a", memory_mib=10**6))
    page = response.content.decode()
    assert response.status_code == 400 and "Select a valid choice" in page
    assert "MiB of memory" not in page and f"node {node.name}" not in page
    assert not Guest.objects.exists() and not Task.objects.exists()
    guest = GuestFactory(node=other, pool=pool, state="stopped")
    response = client.post(reverse("guest_migrate", args=[guest.vmid]), {"target": node.name}, follow=True)
    assert f"there is no node named &#x27;{node.name}&#x27;" in response.content.decode()
    assert not Task.objects.exists()
