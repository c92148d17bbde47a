"""Consoles in the browser (headless Debian Chromium): a container's shell in its Console tab runs what is typed
into xterm.js and follows the window's size; a VM's serial console shows its boot and its shell's prompt; its
display shows in noVNC; a node's Shell tab logs root in. No page logs a JavaScript error (tests/browser/conftest.py),
and a resource that fails to load is one too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from drivers.libvirt.vm_files import console_log_path
from tests.consoles.guests import defined_vm, online_node, running_container
from tests.factories import AdminFactory
from tests.support import wait_for_line

from .conftest import PHONE, no_horizontal_scroll, screenshot

pytestmark = pytest.mark.engines

PROMPT = "/ # "  # busybox's, in the container and in the VM


@pytest.fixture
def container_guest(transactional_db: None, docker_client):
    with running_container(docker_client, "xterm") as made:
        yield made


@pytest.fixture
def vm_guest(transactional_db: None, storage_dir):
    with defined_vm("xterm-vm", 9701) as made:
        yield made


@pytest.fixture
def root_page(session) -> Page:
    page = session.login(AdminFactory(username="root").username)
    page.on("response", lambda response: session.errors.append(f"{response.status} {response.url}")
            if response.status >= 400 else None)
    page.on("requestfailed", lambda request: session.errors.append(f"{request.url}: {request.failure}"))
    return page


def stty_size(page: Page, mark: str) -> tuple[int, int]:
    """Type ``stty size`` with a mark and read its answer off the screen: (rows, columns); returns once the
    next prompt is there (what is typed before it may be taken by the shell's own terminal queries)."""
    page.keyboard.type(f"echo {mark}-$(stty size | tr ' ' x)-end\n")
    screen = page.locator(".xterm-rows")
    expect(screen).to_contain_text(re.compile(rf"{mark}-\d+x\d+-end\s*{re.escape(PROMPT)}"))
    rows, columns = re.search(rf"{mark}-(\d+)x(\d+)-end", screen.inner_text()).groups()
    return int(rows), int(columns)


def test_the_container_shell_in_xterm_runs_a_command_and_follows_the_window(root_page: Page, container_guest) -> None:
    page = root_page
    guest, container = container_guest
    page.goto(guest.get_absolute_url())
    page.click(".tab-bar [data-tab=console]")
    expect(page).to_have_url(re.compile(rf"/guests/{guest.vmid}/tab/console/$"))
    box = page.locator("[data-console]")
    expect(box).to_have_attribute("data-state", "connected")
    expect(page.locator(".xterm-rows")).to_contain_text(PROMPT)
    page.locator("[data-console-screen]").click()
    page.keyboard.type("echo hi-$((6*7))-browser\n")
    expect(page.locator(".xterm-rows")).to_contain_text(re.compile(rf"hi-42-browser\s*{re.escape(PROMPT)}"))
    wide = stty_size(page, "wide")
    assert wide[1] > 100  # the terminal fills a 1440 px wide window
    screenshot(page, "console-container")

    size = box.get_attribute("data-size")  # the columns x rows last sent
    page.set_viewport_size(PHONE)
    expect(box).not_to_have_attribute("data-size", size)
    narrow = stty_size(page, "narrow")
    assert narrow[0] < wide[0] and narrow[1] < wide[1], (wide, narrow)
    no_horizontal_scroll(page)
    screenshot(page, "console-container")

    page.keyboard.type("exit\n")
    expect(box).to_have_attribute("data-state", "session ended")
    container.stop(timeout=1)
    page.reload()
    expect(box).to_have_attribute("data-state", "not running")
    expect(page.locator(".xterm-rows")).to_contain_text(f"container {guest.name} is not running")


def test_a_nodes_shell_tab_logs_root_in(root_page: Page, transactional_db: None) -> None:
    page = root_page
    node = online_node()
    page.goto(node.get_absolute_url())
    with page.expect_popup() as window:  # the header's Shell opens a window of its own, as Proxmox's does
        page.click("[data-console-link=shell]")
    expect(window.value).to_have_url(re.compile(rf"/nodes/{node.name}/shell/$"))
    window.value.close()
    page.click(".tab-bar [data-tab=shell]")
    expect(page.locator("[data-console]")).to_have_attribute("data-state", "connected")
    page.locator("[data-console-screen]").click()
    page.keyboard.type("echo node-$(id -un)-$((6*7))\n")
    expect(page.locator(".xterm-rows")).to_contain_text("node-root-42")
    screenshot(page, "console-node-shell")


@pytest.mark.vm
def test_the_serial_console_of_a_vm_shows_its_boot_and_prompt(root_page: Page, vm_guest) -> None:
    page = root_page
    guest, driver = vm_guest
    driver.start(guest.backend_id)
    page.goto(f"/guests/{guest.vmid}/tab/console/?view=serial")
    screen = page.locator(".xterm-rows")
    expect(page.locator("[data-console]")).to_have_attribute("data-state", "connected")
    expect(screen).to_contain_text("panel-guest: ready", timeout=120_000)
    page.locator("[data-console-screen]").click()
    page.keyboard.type("echo vm-$((6*7))-xterm\n")
    expect(screen).to_contain_text(re.compile(rf"vm-42-xterm\s*{re.escape(PROMPT)}"))  # and the guest's prompt
    screenshot(page, "console-vm-serial")


@pytest.mark.vm
def test_the_display_of_a_vm_in_novnc(root_page: Page, vm_guest) -> None:
    page = root_page
    guest, driver = vm_guest
    driver.start(guest.backend_id)
    # Booted before the page loads: Chromium aborts what it is loading when the host's interfaces change
    # (ERR_NETWORK_CHANGED), as they do when the VM's NIC joins the bridge.
    wait_for_line(Path(console_log_path(guest.node.storage_dir, guest.vmid)), "panel-guest: ready")
    page.goto(guest.get_absolute_url())
    page.click(".tab-bar [data-tab=console]")  # a VM's Console tab shows its display first
    box = page.locator("[data-vnc]")
    expect(box).to_have_attribute("data-state", "connected")
    canvas = page.locator("[data-vnc-screen] canvas")
    expect(canvas).to_be_visible()
    assert canvas.evaluate("c => c.width * c.height") > 0  # the VM's framebuffer, as QEMU sized it
    expect(page.locator("[data-vnc-keys]")).to_be_enabled()
    screenshot(page, "console-vm-display")
    page.click("text=Serial console")
    expect(page.locator("[data-console]")).to_have_attribute("data-state", "connected")
