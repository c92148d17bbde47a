"""A person in a browser: log in, create a container, power it, delete it (headless Debian Chromium)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from cluster.events import publish_node_changed
from guests.models import Guest
from nodes.models import Node
from tests.factories import PASSWORD, GuestFactory
from tests.support import PREFIX

pytestmark = pytest.mark.engines


@pytest.fixture
def page(browser: Browser, asgi_server: str, live_node, admin_user) -> Iterator[Page]:
    context = browser.new_context(base_url=asgi_server)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto("/")
    page.fill("#id_username", admin_user.username)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Datacenter")
    yield page
    context.close()


def wait_for_task_ok(page: Page) -> None:
    """The task page follows its task live."""
    expect(page.locator("#task-status")).to_have_text("OK", timeout=90_000)


def test_create_power_and_delete_a_container(page: Page, live_node) -> None:
    expect(page.locator("table").first).to_contain_text(live_node.name)
    expect(page.locator("table").first).to_contain_text(re.compile("online", re.IGNORECASE))

    page.click("text=Create CT")
    page.fill("#id_name", "bad name!")
    page.click("form.form button[type=submit]")
    expect(page.locator(".field-error[data-error-for=name]")).to_contain_text("is not a valid guest name")

    page.fill("#id_name", f"{PREFIX}browser")
    page.click("[role=tab]:has-text('Start')")
    page.check("#id_start")
    page.click("form.form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/tasks/UPID:"), timeout=30_000)
    wait_for_task_ok(page)
    expect(page.locator("pre.log")).to_contain_text("TASK OK")

    guest = Guest.objects.get(name=f"{PREFIX}browser")
    page.goto(guest.get_absolute_url())
    expect(page.locator("h1 .badge")).to_have_text("running")
    page.click("button:text('Shutdown')")
    wait_for_task_ok(page)
    page.goto(guest.get_absolute_url())
    expect(page.locator("h1 .badge")).to_have_text("stopped")

    page.click("a:text('Delete')")
    expect(page.locator("h1")).to_contain_text("Delete")
    page.fill("#confirm", str(guest.vmid))
    page.click("form button.danger")
    wait_for_task_ok(page)
    assert not Guest.objects.filter(vmid=guest.vmid).exists()
    page.goto("/")
    tree = page.locator("[data-resource-tree]")
    expect(tree).to_contain_text(live_node.name)  # drawn from the socket's first message
    expect(tree).not_to_contain_text(f"{PREFIX}browser")


def publish(node: str) -> None:
    """What a node's poll does at its end; from a thread of its own, away from Playwright's event loop."""
    with ThreadPoolExecutor(1) as thread:
        thread.submit(publish_node_changed, node).result()


def test_pages_follow_the_cluster_without_reloading(page: Page, live_node) -> None:
    """Figures, counts, the tree, a guest's state and its actions, and a node going silent: all pushed."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    tree = page.locator("[data-resource-tree]")
    expect(tree).to_contain_text(live_node.name)
    page.evaluate("window.sameDocument = true")  # gone if anything reloads the page

    Node.objects.filter(pk=live_node.pk).update(cpu_usage=0.5, last_seen=timezone.now())
    guest = GuestFactory(node=live_node, name=f"{PREFIX}live", state="running", cpu_usage=0.25)
    publish(live_node.name)
    row = page.locator(f'tr[data-resource="node/{live_node.name}"]')
    expect(row.locator("[data-field=cpu] .bar em")).to_have_text("50.0 %")
    expect(tree).to_contain_text(f"{guest.vmid} ({PREFIX}live)")
    running = Guest.objects.filter(node=live_node, kind="ct", state="running").count()
    expect(page.locator("[data-summary=ct]")).to_contain_text(f"{running} running")
    assert page.evaluate("window.sameDocument") is True

    page.goto(guest.get_absolute_url())
    badge = page.locator("h1 .badge")
    expect(badge).to_have_text("running")
    expect(page.locator("button:text('Start')")).to_be_hidden()
    page.evaluate("window.sameDocument = true")
    Guest.objects.filter(pk=guest.pk).update(state="stopped")
    publish(live_node.name)
    expect(badge).to_have_text("stopped")
    expect(page.locator("button:text('Start')")).to_be_visible()
    expect(page.locator("button:text('Shutdown')")).to_be_hidden()
    # The history graphs took the pushes as new data: still one chart per figure.
    expect(page.locator(".rrd .uplot")).to_have_count(4)

    # The node stops reporting: the web process notices by itself and pushes (no poll arrives).
    Node.objects.filter(pk=live_node.pk).update(last_seen=timezone.now() - timedelta(hours=1))
    expect(badge).to_have_text("unknown", timeout=30_000)
    expect(page.locator("button:text('Start')")).to_be_hidden()
    assert page.evaluate("window.sameDocument") is True
    page.click("button[data-timeframe=week]")
    expect(page.locator("button[data-timeframe=week]")).to_have_class(re.compile("active"))
    expect(page.locator(".rrd .uplot")).to_have_count(4)
    assert errors == []
