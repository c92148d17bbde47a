"""No input gives a 5xx: every number and id a page or the API reads, fed odd values (digits that are not
ASCII, numbers past every integer column, signs, exponents, text), answers with a clear 4xx or a page."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodes.models import Node
from tasks.models import Task
from tasks.upid import new_upid
from tests.factories import AdminFactory, GuestFactory, UserFactory, grant

pytestmark = pytest.mark.django_db

NASTY = ["²", "③", "١٢٣", "10^20", "1e9", "-1", "0", "00101", "99999999999999999999", "9" * 40, "", " ",
         "0x10", "1.5", "%00", "\x00", "a\x00b", "a" * 300, "1,2,,3", "100 101", "null", "[]", "𝟙𝟚𝟛"]
VALUES = st.one_of(st.sampled_from(NASTY), st.integers(-10**30, 10**30).map(str), st.text(max_size=40))


def targets(node: str, vmid: int, upid: str) -> list[tuple[str, str, str]]:
    """(method, url with {v}, the form field that gets the value or "" when the value is in the URL)."""
    api = f"/api2/json/nodes/{node}"
    return [
        ("get", "/guests/?q={v}", ""), ("get", "/guests/?page={v}", ""), ("get", "/guests/?kind={v}&state={v}", ""),
        ("get", "/guests/{v}/", ""), ("get", "/tasks/?page={v}", ""), ("get", f"/tasks/{upid}/?start={{v}}", ""),
        ("get", "/access/audit/?page={v}", ""), ("get", "/access/users/{v}/", ""), ("get", "/nodes/{v}/", ""),
        ("post", "/guests/create/ct/", "vmid"), ("post", "/guests/create/ct/", "vcpus"),
        ("post", "/guests/create/ct/", "memory_mib"), ("post", "/guests/create/ct/", "startup_order"),
        ("post", "/guests/create/vm/", "disk_gib"),
        ("post", f"/guests/{vmid}/pool/", "pool"), ("post", f"/guests/{vmid}/migrate/", "target"),
        ("post", f"/guests/{vmid}/stop/", "confirm"),
        ("get", f"{api}/tasks?start={{v}}", ""), ("get", f"{api}/tasks?limit={{v}}", ""),
        ("get", f"{api}/tasks?vmid={{v}}", ""), ("get", f"{api}/tasks/{upid}/log?start={{v}}&limit={{v}}", ""),
        ("get", "/api2/json/cluster/resources?type={v}", ""), ("get", f"{api}/rrddata?timeframe={{v}}&cf={{v}}", ""),
        ("get", f"{api}/lxc/{{v}}/rrddata", ""), ("post", f"{api}/lxc/{{v}}/status/start", ""),
        ("post", f"{api}/stopall", "vms"), ("post", f"{api}/stopall", "timeout"), ("post", f"{api}/startall", "force"),
        ("post", f"{api}/lxc/{vmid}/status/shutdown", "timeout"), ("delete", f"{api}/tasks/{{v}}", ""),
        # snapshots, clones, templates
        ("post", f"/guests/{vmid}/snapshots/take/", "snapname"),
        ("post", f"/guests/{vmid}/snapshots/take/", "description"),
        ("get", f"/guests/{vmid}/snapshots/{{v}}/rollback/", ""),
        ("post", f"/guests/{vmid}/snapshots/{{v}}/delete/", ""),
        ("post", f"/guests/{vmid}/snapshots/{{v}}/description/", ""),
        ("post", f"{api}/lxc/{vmid}/snapshot", "snapname"), ("post", f"{api}/lxc/{vmid}/snapshot", "description"),
        ("post", f"{api}/lxc/{vmid}/snapshot", "vmstate"), ("get", f"{api}/lxc/{vmid}/snapshot/{{v}}", ""),
        ("delete", f"{api}/lxc/{vmid}/snapshot/{{v}}", ""), ("post", f"{api}/lxc/{vmid}/snapshot/{{v}}/rollback", ""),
        ("get", f"{api}/lxc/{vmid}/snapshot/{{v}}/config", ""), ("put", f"{api}/lxc/{vmid}/snapshot/{{v}}/config", ""),
        ("post", f"{api}/lxc/{vmid}/clone", "newid"), ("post", f"{api}/lxc/{vmid}/clone", "hostname"),
        ("post", f"{api}/lxc/{vmid}/clone", "pool"), ("post", f"{api}/lxc/{{v}}/template", ""),
    ]


@pytest.fixture
def world(node):
    admin = AdminFactory()
    user = UserFactory()
    grant(user, "PVEVMAdmin", "/vms")
    guest = GuestFactory(node=node, state="running")
    task = Task.objects.create(upid=new_upid(node.name, "start", str(guest.vmid), "root@pam"), node=node,
                               user=admin, type="start", status="ok")
    return {"admin": admin, "user": user, "targets": targets(node.name, guest.vmid, task.upid)}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=VALUES)
def test_no_value_of_any_parameter_gives_a_5xx(client, world, value: str) -> None:
    client.raise_request_exception = False  # a crash is a 500 response here, which the test reports
    Node.objects.update(last_seen=timezone.now())  # the node stays online however long the run takes
    failures = []
    for who in (world["admin"], world["user"]):
        client.force_login(who)
        for method, url, field in world["targets"]:
            target = url.replace("{v}", quote(value, safe=""))
            response = getattr(client, method)(target, {field: value} if field else {})
            if response.status_code >= 500:
                failures.append(f"{who.username} {method} {target} {field}={value!r}: {response.status_code}")
    assert not failures, "\n".join(failures)
