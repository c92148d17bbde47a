"""In a browser: take a container's snapshot on its Snapshots tab, change a file, roll back, see it back."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from guests.models import Guest
from guests.services import CreateRequest, request_create
from tests.support import CT_TEMPLATE, LOGS, PREFIX, assert_ok, exec_in, removing_new_containers, wait_for_task

from .test_pages import page, wait_for_task_ok  # noqa: F401 (a logged-in page; the browser is in conftest.py)

pytestmark = pytest.mark.engines


@pytest.fixture(autouse=True)
def remove_new_containers(docker_client) -> Iterator[None]:
    with removing_new_containers(docker_client):
        yield


def test_snapshot_change_rollback(page: Page, live_node, admin_user, docker_client) -> None:  # noqa: F811
    name = f"{PREFIX}bsnap-{uuid.uuid4().hex[:6]}"
    assert_ok(wait_for_task(request_create(admin_user, CreateRequest(
        node=live_node, kind="ct", name=name, template=CT_TEMPLATE, vcpus=1, memory_mib=64, start=True))))
    guest = Guest.objects.get(name=name)
    exec_in(docker_client, guest, "echo before > /root/file")

    page.goto(guest.get_absolute_url())
    page.click(".tab-bar a[data-tab=snapshots]")
    expect(page.locator("#tab-snapshots")).to_contain_text("Take a snapshot")
    page.fill("#id_snapname", "first")
    page.fill("#id_description", "before the change")
    page.click("text=Take snapshot")
    expect(page).to_have_url(re.compile(r"/tasks/UPID:[^/]*:vzsnapshot:"))
    wait_for_task_ok(page)

    exec_in(docker_client, guest, "echo after > /root/file")
    page.goto(f"/guests/{guest.vmid}/tab/snapshots/")
    row = page.locator('tr[data-snapshot="first"]')
    expect(row).to_contain_text("first")
    expect(page.locator('tr[data-snapshot="current"]')).to_contain_text("You are here!")
    page.screenshot(path=str(LOGS / "snapshots-tab.png"), full_page=True)
    row.locator("text=Roll back").click()
    expect(page.locator("#snapshot-confirm")).to_contain_text("Everything that changed in it since is lost")
    page.check("input[name=start]")
    page.click("#snapshot-confirm button.danger")
    expect(page).to_have_url(re.compile(r"/tasks/UPID:[^/]*:vzrollback:"))
    wait_for_task_ok(page)
    assert exec_in(docker_client, guest, "cat /root/file") == "before\n"
