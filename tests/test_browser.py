"""A person in a browser: log in, create a container, power it, delete it (headless Debian Chromium)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from guests.models import Guest

from .factories import PASSWORD

pytestmark = pytest.mark.engines

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop in this thread; the ORM calls of the test are still
    # synchronous and safe, which Django cannot tell by itself.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


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
    """The task page reloads itself while the task runs."""
    expect(page.locator("#task-status")).to_have_text("OK", timeout=90_000)


def test_create_power_and_delete_a_container(page: Page, live_node) -> None:
    expect(page.locator("table").first).to_contain_text(live_node.name)
    expect(page.locator("table").first).to_contain_text("online")

    page.click("text=Create CT")
    page.fill("#id_name", "bad name!")
    page.click("form.form button[type=submit]")
    expect(page.locator(".field-error")).to_contain_text("is not a valid guest name")

    page.fill("#id_name", "pt-browser")
    page.check("#id_start")
    page.click("form.form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/tasks/UPID:"))
    wait_for_task_ok(page)
    expect(page.locator("pre.log")).to_contain_text("TASK OK")

    guest = Guest.objects.get(name="pt-browser")
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
    expect(page.locator("body")).not_to_contain_text("pt-browser")
