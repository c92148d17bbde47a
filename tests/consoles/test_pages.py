"""The console pages: a terminal on the console socket for who holds VM.Console (Sys.Console for a node's
shell), the 403 page for who does not, and a link to it on the guest's and the node's page only for them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from access.models import AuditEntry
from tests.factories import PASSWORD, AdminFactory, GuestFactory, NodeFactory, UserFactory, grant

pytestmark = pytest.mark.django_db


def logged_in(client, user):
    client.login(username=user.username, password=PASSWORD)
    return client


def test_the_console_page_holds_a_terminal_on_the_guests_socket(client) -> None:
    guest = GuestFactory(node=NodeFactory())
    logged_in(client, AdminFactory())
    page = client.get(reverse("guest_console", args=[guest.vmid]))
    assert page.status_code == 200
    text = page.content.decode()
    assert f'data-socket="/ws/guests/{guest.vmid}/console/"' in text
    assert "vendor/xterm/xterm.js" in text and "panel/console.js" in text
    assert 'data-console-link' in client.get(guest.get_absolute_url()).content.decode()


def test_no_console_page_without_vm_console(client) -> None:
    guest = GuestFactory(node=NodeFactory())
    auditor = UserFactory()
    grant(auditor, "PVEAuditor", "/")
    logged_in(client, auditor)
    assert client.get(reverse("guest_console", args=[guest.vmid])).status_code == 403
    assert "data-console-link" not in client.get(guest.get_absolute_url()).content.decode()
    assert client.get(reverse("guest_console", args=[guest.vmid + 1])).status_code == 404
    assert AuditEntry.objects.filter(action="guest.console", result="denied").count() == 1


def test_a_vm_user_of_the_guest_gets_its_console(client) -> None:
    guest = GuestFactory(node=NodeFactory())
    user = UserFactory()
    grant(user, "PVEVMUser", f"/vms/{guest.vmid}")
    logged_in(client, user)
    assert client.get(reverse("guest_console", args=[guest.vmid])).status_code == 200


def test_the_node_shell_needs_sys_console(client) -> None:
    node = NodeFactory()
    auditor, admin = UserFactory(), UserFactory()
    grant(auditor, "PVEAuditor", "/")
    grant(admin, "PVESysAdmin", "/nodes")
    logged_in(client, auditor)
    assert client.get(reverse("node_shell", args=[node.name])).status_code == 403
    assert "data-console-link" not in client.get(node.get_absolute_url()).content.decode()
    logged_in(client, admin)
    page = client.get(reverse("node_shell", args=[node.name]))
    assert page.status_code == 200 and f'data-socket="/ws/nodes/{node.name}/shell/"' in page.content.decode()
    assert "data-console-link" in client.get(node.get_absolute_url()).content.decode()
    assert client.get(reverse("node_shell", args=["no-such-node"])).status_code == 404


def test_a_vms_display_page_holds_novnc_and_a_container_has_none(client) -> None:
    node = NodeFactory()
    vm, ct = GuestFactory(node=node, kind="vm", state="running"), GuestFactory(node=node, kind="ct")
    logged_in(client, AdminFactory())
    page = client.get(reverse("guest_display", args=[vm.vmid])).content.decode()
    assert f'data-socket="/ws/guests/{vm.vmid}/vnc/"' in page and "vendor/novnc/core/rfb.js" in page
    assert 'data-console-link="display"' in client.get(vm.get_absolute_url()).content.decode()
    refused = client.get(reverse("guest_display", args=[ct.vmid]))
    assert refused.status_code == 409 and "has no display" in refused.content.decode()
    assert 'data-console-link="display"' not in client.get(ct.get_absolute_url()).content.decode()


def test_the_console_tab_is_there_for_who_may_use_it_only(client) -> None:
    node = NodeFactory()
    vm, ct = GuestFactory(node=node, kind="vm", state="running"), GuestFactory(node=node, kind="ct")
    auditor = UserFactory()
    grant(auditor, "PVEAuditor", "/")
    logged_in(client, auditor)
    assert 'data-tab="console"' not in client.get(ct.get_absolute_url()).content.decode()
    assert client.get(reverse("guest_tab", args=[ct.vmid, "console"])).status_code == 404
    assert 'data-tab="shell"' not in client.get(node.get_absolute_url()).content.decode()
    assert client.get(reverse("node_tab", args=[node.name, "shell"])).status_code == 404
    logged_in(client, AdminFactory())
    shell = client.get(reverse("guest_tab", args=[ct.vmid, "console"])).content.decode()
    assert f'data-socket="/ws/guests/{ct.vmid}/console/"' in shell and "data-lazy" not in shell
    display = client.get(reverse("guest_tab", args=[vm.vmid, "console"])).content.decode()
    assert f'data-socket="/ws/guests/{vm.vmid}/vnc/"' in display
    serial = client.get(reverse("guest_tab", args=[vm.vmid, "console"]) + "?view=serial").content.decode()
    assert f'data-socket="/ws/guests/{vm.vmid}/console/"' in serial
    node_shell = client.get(reverse("node_tab", args=[node.name, "shell"])).content.decode()
    assert f'data-socket="/ws/nodes/{node.name}/shell/"' in node_shell
    assert AuditEntry.objects.filter(action__in=["guest.console", "guest.vnc", "node.shell"]).count() == 0
