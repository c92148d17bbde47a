"""Consoles in the browser (headless Debian Chromium): a container's shell in xterm.js runs what is typed into
it and follows the window's size; a VM's serial console shows its boot and its shell's prompt; its display
shows in noVNC. No page logs a JavaScript error."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from drivers.libvirt.vm_files import console_log_path
from tests.consoles.guests import defined_vm, running_container
from tests.factories import PASSWORD, AdminFactory
from tests.support import LOGS, wait_for_line

pytestmark = pytest.mark.engines

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API keeps an event loop in this thread
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def container_guest(transactional_db: None, docker_client):
    with running_container(docker_client, "xterm") as made:
        yield made


@pytest.fixture
def vm_guest(transactional_db: None, storage_dir):
    with defined_vm("xterm-vm", 9701) as made:
        yield made


@pytest.fixture
def page(browser: Browser, asgi_server: str) -> Iterator[tuple[Page, list[str]]]:
    """A logged-in root's page, and the JavaScript errors it logs."""
    admin = AdminFactory(username="root")
    context = browser.new_context(base_url=asgi_server, viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # A resource that fails is named by the response listener; the console's own line for it names nothing.
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource") else None)
    # The favicon is the workspace's (issue 13), not the console's.
    page.on("response", lambda response: errors.append(f"{response.status} {response.url}")
            if response.status >= 400 and not response.url.endswith("/favicon.ico") else None)
    page.on("requestfailed", lambda request: errors.append(f"{request.url}: {request.failure}"))
    page.goto("/login/")
    page.fill("#id_username", admin.username)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Datacenter")
    yield page, errors
    context.close()


PROMPT = "/ # "


def stty_size(page: Page, mark: str) -> tuple[int, int]:
    """Type ``stty size`` with a mark and read its answer off the screen: (rows, columns); returns once the
    next prompt is there (what is typed before it may be taken by the shell's own terminal queries)."""
    page.keyboard.type(f"echo {mark}-$(stty size | tr ' ' x)-end\n")
    screen = page.locator(".xterm-rows")
    expect(screen).to_contain_text(re.compile(rf"{mark}-\d+x\d+-end\s*{re.escape(PROMPT)}"))
    rows, columns = re.search(rf"{mark}-(\d+)x(\d+)-end", screen.inner_text()).groups()
    return int(rows), int(columns)


def test_the_container_shell_in_xterm_runs_a_command_and_follows_the_window(page, container_guest) -> None:
    page, errors = page
    guest, container = container_guest
    page.goto(guest.get_absolute_url())
    page.click("[data-console-link=console]")
    expect(page).to_have_url(re.compile(rf"/guests/{guest.vmid}/console/$"))
    box = page.locator("[data-console]")
    expect(box).to_have_attribute("data-state", "connected")
    page.locator("[data-console-screen]").click()
    expect(page.locator(".xterm-rows")).to_contain_text(PROMPT)
    page.keyboard.type("echo hi-$((6*7))-browser\n")
    expect(page.locator(".xterm-rows")).to_contain_text(re.compile(rf"hi-42-browser\s*{re.escape(PROMPT)}"))
    wide = stty_size(page, "wide")
    assert wide[1] > 100  # the terminal fills a 1440 px wide window
    page.screenshot(path=str(LOGS / "console-container-1440.png"))

    size = box.get_attribute("data-size")  # the columns x rows last sent
    page.set_viewport_size({"width": 800, "height": 600})
    expect(box).not_to_have_attribute("data-size", size)
    narrow = stty_size(page, "narrow")
    assert narrow[0] < wide[0] and narrow[1] < wide[1], (wide, narrow)
    page.screenshot(path=str(LOGS / "console-container-800.png"))

    page.keyboard.type("exit\n")
    expect(box).to_have_attribute("data-state", "session ended")

    container.stop(timeout=1)
    page.reload()
    expect(box).to_have_attribute("data-state", "not running")
    expect(page.locator(".xterm-rows")).to_contain_text(f"container {guest.name} is not running")
    assert errors == []


@pytest.mark.vm
def test_the_serial_console_of_a_vm_shows_its_boot_and_prompt(page, vm_guest) -> None:
    page, errors = page
    guest, driver = vm_guest
    driver.start(guest.backend_id)
    page.goto(f"/guests/{guest.vmid}/console/")
    screen = page.locator(".xterm-rows")
    expect(page.locator("[data-console]")).to_have_attribute("data-state", "connected")
    expect(screen).to_contain_text("panel-guest: ready", timeout=120_000)
    page.locator("[data-console-screen]").click()
    page.keyboard.type("echo vm-$((6*7))-xterm\n")
    expect(screen).to_contain_text(re.compile(rf"vm-42-xterm\s*{re.escape(PROMPT)}"))  # and the guest's prompt
    page.screenshot(path=str(LOGS / "console-vm.png"))
    assert errors == []


@pytest.mark.vm
def test_the_display_of_a_vm_in_novnc(page, vm_guest) -> None:
    page, errors = page
    guest, driver = vm_guest
    driver.start(guest.backend_id)
    # Booted before the page loads: Chromium aborts what it is loading when the host's interfaces change
    # (ERR_NETWORK_CHANGED), as they do when the VM's NIC joins the bridge.
    wait_for_line(Path(console_log_path(guest.node.storage_dir, guest.vmid)), "panel-guest: ready")
    page.goto(guest.get_absolute_url())
    page.click("[data-console-link=display]")
    expect(page).to_have_url(re.compile(rf"/guests/{guest.vmid}/vnc/$"))
    box = page.locator("[data-vnc]")
    expect(box).not_to_have_attribute("data-state", "connecting")
    assert errors == []
    expect(box).to_have_attribute("data-state", "connected")
    canvas = page.locator("[data-vnc-screen] canvas")
    expect(canvas).to_be_visible()
    assert canvas.evaluate("c => c.width * c.height") > 0  # the VM's framebuffer, as QEMU sized it
    expect(page.locator("[data-vnc-keys]")).to_be_enabled()
    page.screenshot(path=str(LOGS / "console-vm-display.png"))
    assert errors == []
