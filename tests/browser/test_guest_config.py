"""A person in a browser changes a running container's memory on its Hardware tab, and the engine has it at once
(docker inspect); the notes of its Summary are edited in place (headless Debian Chromium)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from guests.models import Guest
from guests.services import request_action
from tests.api.guests import MiB, made_container
from tests.factories import PASSWORD
from tests.support import LOGS, assert_ok, wait_for_task

pytestmark = pytest.mark.engines
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def page(asgi_server: str, live_node, admin_user) -> Iterator[Page]:
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # the test's ORM calls are synchronous beside Playwright's loop
    try:
        with sync_playwright() as playwright:
            browser: Browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
            context = browser.new_context(base_url=asgi_server, viewport={"width": 1440, "height": 900})
            page = context.new_page()
            page.set_default_timeout(60_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto("/")
            page.fill("#id_username", admin_user.username)
            page.fill("#id_password", PASSWORD)
            page.click("form button[type=submit]")
            expect(page.locator("h1")).to_have_text("Datacenter")
            yield page
            assert errors == [], errors
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


def test_memory_changes_live_from_the_hardware_tab(page: Page, admin_user, live_node,
                                                   docker_client: docker.DockerClient) -> None:
    guest = made_container(admin_user, live_node, "tabs-browser")
    assert_ok(wait_for_task(request_action(admin_user, guest, "start")))
    page.goto(guest.get_absolute_url())
    page.click("nav.tab-bar >> text=Hardware")
    expect(page.locator(".tab-content h2").first).to_have_text("Hardware")
    expect(page.locator("h1 .badge")).to_have_text("running")
    page.fill("#id_memory", "4000000")  # within the field's bounds, beyond the node's memory
    page.click("form.form button[type=submit]")
    expect(page.locator(".field-error")).to_contain_text(f"node {live_node.name} has only")
    page.fill("#id_memory", "112")
    page.click("form.form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/tasks/UPID:[^/]*:vzconfig:"))
    expect(page.locator("#task-status")).to_have_text("OK", timeout=90_000)
    assert docker_client.containers.get(guest.backend_id).attrs["HostConfig"]["Memory"] == 112 * MiB
    page.goto(guest.get_absolute_url() + "tab/hardware/")
    expect(page.locator("#id_memory")).to_have_value("112")
    page.screenshot(path=str(Path(LOGS) / "guest-hardware.png"), full_page=True)

    page.goto(guest.get_absolute_url())
    page.click("text=Edit notes")
    page.fill("#notes textarea", "serves the *front*")
    page.click("#notes button[type=submit]")
    expect(page.locator("#notes .notes-text")).to_contain_text("serves the *front*")
    assert Guest.objects.get(pk=guest.pk).description == "serves the *front*"
    page.screenshot(path=str(Path(LOGS) / "guest-summary-notes.png"), full_page=True)
