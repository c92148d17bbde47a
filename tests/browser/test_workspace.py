"""The workspace in a browser: the tree, search, the task dock, the create wizard, a selection of guests started
together, a phone's layout, the dark theme and a pool user's view; screenshots of the main pages."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import docker
import pytest
from playwright.sync_api import Page, expect

from access.models import Role
from guests.models import Guest
from nodes.poll import poll_node
from tasks.models import Task
from tests.factories import PoolFactory, UserFactory, grant
from tests.support import CT_TEMPLATE, PREFIX, VM_TEMPLATE, assert_ok, create

from .conftest import DESKTOP, PHONE, Session, no_horizontal_scroll, screenshot

pytestmark = pytest.mark.engines
BOUND = 5_000  # ms: the bound of a wait for what a push must show at once (a limit, not a measurement)


@pytest.fixture
def containers(live_node, docker_client: docker.DockerClient) -> Iterator[list[Guest]]:
    """Three stopped containers made on the engine, discovered by a poll."""
    image = docker_client.images.list(filters={"label": f"panel.template={CT_TEMPLATE}"})[0].id
    made = [docker_client.containers.create(image, name=f"{PREFIX}ws-{n}", mem_limit="32m") for n in (1, 2, 3)]
    poll_node(live_node.name)
    yield [Guest.objects.get(backend_id=c.id) for c in made]
    for container in made:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


@pytest.fixture
def vm(admin_client, live_node) -> Guest:
    task = create(admin_client, "vm", {"node": live_node.name, "template": VM_TEMPLATE, "name": f"{PREFIX}ws-vm",
                                       "vcpus": 1, "memory_mib": 128, "disk_gib": 1})
    assert_ok(task)
    return Guest.objects.get(name=f"{PREFIX}ws-vm")


def drawn(page: Page) -> None:
    """The page's sockets have sent their first data: the tree and the dock are no longer loading."""
    expect(page.locator("[data-resource-tree] .tree-groups")).to_be_attached()
    expect(page.locator(".loading")).to_have_count(0)


def tree_item(page: Page, guest: Guest):
    return page.locator("[data-resource-tree] .tree-item", has_text=f"{guest.vmid} ({guest.name})")


def test_tree_search_dock_and_screenshots(session: Session, admin_user, live_node, containers, vm) -> None:
    page = session.login(admin_user.username)
    # The tree: the node, the real containers and the VM, each with its type icon and state.
    tree = page.locator("[data-resource-tree]")
    expect(tree.locator(".tree-item", has_text=live_node.name).first).to_be_visible()
    for guest in containers:
        item = tree_item(page, guest)
        expect(item.locator(".type-icon.ct")).to_have_count(1)
        expect(item).to_have_attribute("title", f"{guest.vmid} ({guest.name}) (stopped)")
    expect(tree_item(page, vm).locator(".type-icon.vm")).to_have_count(1)
    page.select_option("[data-tree-view]", "type")
    expect(tree.locator(".tree-folder", has_text="Containers")).to_be_visible()
    expect(tree.locator(".tree-folder", has_text="Virtual Machines (1)")).to_be_visible()
    page.select_option("[data-tree-view]", "server")

    # The keyboard: the skip link comes first, Alt+T goes to the tree, arrows move in it.
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.keyboard.press("Alt+t")
    expect(tree.locator(".tree-item.current")).to_be_focused()  # the datacenter, this page
    page.keyboard.press("ArrowDown")
    expect(tree.locator(".tree-item", has_text=live_node.name).first).to_be_focused()

    # Search by VMID, then by name, from the keyboard shortcut.
    page.keyboard.press("/")
    expect(page.locator("#global-search")).to_be_focused()
    page.keyboard.type(str(vm.vmid))
    expect(page.locator("#search-results li[role=option]").first).to_contain_text(f"{vm.vmid} ({vm.name})")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"/guests/{vm.vmid}/$"))
    page.fill("#global-search", "ws-2")
    expect(page.locator("#search-results li[role=option]")).to_have_count(1)
    expect(page.locator("#search-results")).to_contain_text(containers[1].name)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"/guests/{containers[1].vmid}/$"))

    # The dock: the VM's creation is listed; a double click opens its log, live, in a window.
    dock = page.locator("[data-task-dock]")
    row = dock.locator("tr", has_text=f"VM {vm.vmid} - Create")
    row.dblclick()
    expect(page.locator("dialog.log-window pre.log")).to_contain_text("TASK OK")
    page.locator("dialog.log-window button", has_text="Close").click()
    expect(page.locator("dialog.log-window")).to_have_count(0)

    task = Task.objects.filter(vmid=vm.vmid, type="create").get()
    pages = {"datacenter": "/", "node": live_node.get_absolute_url(), "guest": containers[0].get_absolute_url(),
             "vm": vm.get_absolute_url(), "task": task.get_absolute_url(), "status": "/status",
             "search": "/datacenter/tab/search/", "create-ct": "/guests/create/ct/",
             "node-guests": f"/nodes/{live_node.name}/tab/guests/"}
    for theme in ("light", "dark"):
        for viewport in (DESKTOP, PHONE):
            shot = session.login(admin_user.username, viewport, theme)
            expect(shot.locator("html")).to_have_attribute("data-theme", theme)
            for name, url in pages.items():
                shot.goto(url)
                drawn(shot)
                screenshot(shot, name)
                if viewport is PHONE:
                    no_horizontal_scroll(shot)
            if viewport is PHONE:  # the tree is a menu
                expect(shot.locator("#resource-tree")).not_to_be_in_viewport()
                shot.click(".tree-toggle")
                expect(shot.locator("#resource-tree")).to_be_in_viewport()
                screenshot(shot, "tree-menu")
            shot.context.clear_cookies()
            shot.goto("/login/")
            screenshot(shot, "login")
            if viewport is PHONE:
                no_horizontal_scroll(shot)
    # The dark theme is dark, and the toggle's choice outlives a reload.
    dark = session.login(admin_user.username, DESKTOP, "light")
    dark.click(".user-menu summary")
    dark.click("[data-theme-toggle]")
    dark.reload()
    expect(dark.locator("html")).to_have_attribute("data-theme", "dark")
    background = dark.evaluate("getComputedStyle(document.body).backgroundColor")
    assert sum(int(c) for c in re.findall(r"\d+", background)[:3]) < 120, background


def test_pool_user_sees_only_their_pool_and_no_control_they_may_not_use(session: Session, live_node,
                                                                         containers) -> None:
    pool = PoolFactory(name=f"{PREFIX}pool")
    mine, other = containers[0], containers[1]
    Guest.objects.filter(pk=mine.pk).update(pool=pool)
    user = UserFactory(username=f"{PREFIX}vmuser")
    grant(user, "PVEVMUser", f"/pool/{pool.name}")
    assert Role.objects.filter(name="PVEVMUser").exists()
    page = session.login(user.username)
    tree = page.locator("[data-resource-tree]")
    expect(tree_item(page, mine)).to_be_visible()
    expect(tree).not_to_contain_text(other.name)
    expect(tree.locator(f'a.tree-item[href="/nodes/{live_node.name}/"]')).to_have_count(0)  # not theirs to see
    # No red "down", no "0 of 0" nodes: what they may see, their guests.
    summary = page.locator("[data-live-summary]")
    expect(summary.locator("[data-summary=health]")).to_be_hidden()
    expect(summary.get_by_text("Nodes online")).to_be_hidden()
    expect(summary.locator("[data-summary=ct]")).to_contain_text("1 stopped")
    expect(page.locator("header")).not_to_contain_text("Create CT")
    page.goto(mine.get_absolute_url())
    actions = page.locator(".panel-head .actions")
    expect(actions.get_by_role("button", name="Start")).to_be_visible()
    for hidden in ("Shutdown", "Reboot"):  # not in this state: hidden until the state allows it
        expect(actions.get_by_role("button", name=hidden, exact=True)).to_be_hidden()
    expect(actions.get_by_text("Stop", exact=True)).to_be_hidden()
    expect(actions.get_by_text("Delete")).to_have_count(0)  # VM.Allocate: not theirs
    expect(page.locator(".tab-bar")).not_to_contain_text("Permissions")
    expect(page.locator("main")).not_to_contain_text("Migrate")
    page.goto(other.get_absolute_url())
    expect(page.locator("h1")).to_contain_text("Not found")


def test_wizard_refuses_bad_input_field_by_field_then_creates_a_running_container(session: Session, admin_user,
                                                                                   live_node, docker_client) -> None:
    page = session.login(admin_user.username)
    page.click("header >> text=Create CT")
    name, vmid = page.locator("#id_name"), page.locator("#id_vmid")
    name_error = page.locator("[data-error-for=name]")
    name.fill("bad name!")  # checked as typed, by the server's form: no submit
    expect(name_error).to_contain_text("is not a valid guest name")
    long_name = "a" * 300
    name.fill(long_name)
    expect(name_error).to_have_text("a guest name has at most 63 characters; this one has 300")
    assert name.input_value() == long_name  # refused, never cut
    vmid.fill("5")
    expect(page.locator("[data-error-for=vmid]")).to_contain_text("greater than or equal to 100")
    vmid.fill("")
    expect(page.locator("[data-error-for=vmid]")).to_have_text("")
    name.fill(f"{PREFIX}wizard")
    expect(name_error).to_have_text("")
    page.click("[data-wizard-next]")
    page.click("[data-wizard-next]")
    memory = page.locator("#id_memory_mib")
    memory.fill("2")
    expect(page.locator("[data-error-for=memory_mib]")).to_contain_text("greater than or equal to 4")
    page.click("form[data-wizard] button[type=submit]")  # refused as a whole, on the step in error
    expect(memory).to_be_focused()
    memory.fill("64")
    expect(page.locator("[data-error-for=memory_mib]")).to_have_text("")
    page.click("[data-wizard-next]")  # the container's own settings
    ports = page.locator("#id_ports")
    ports.fill("8080:99999")
    expect(page.locator("[data-error-for=ports]")).to_have_text("port 99999 is not within 1 and 65535")
    ports.fill("")
    expect(page.locator("[data-error-for=ports]")).to_have_text("")
    page.fill("#id_command", "sleep 3600")
    page.fill("#id_environment", "MODE=wizard")
    page.click("[data-wizard-next]")
    page.check("#id_start")
    page.click("form[data-wizard] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/tasks/UPID:"), timeout=30_000)
    expect(page.locator("#task-status")).to_have_text("OK", timeout=90_000)
    expect(page.locator("#task-ended")).not_to_have_text("—")  # the task page's end, pushed
    guest = Guest.objects.get(name=f"{PREFIX}wizard")
    config = docker_client.containers.get(guest.backend_id).attrs["Config"]
    assert config["Cmd"] == ["sleep", "3600"] and "MODE=wizard" in config["Env"]
    # The state the worker read back at the task's end, pushed: no poll has run since.
    expect(tree_item(page, guest)).to_have_attribute("title", f"{guest.vmid} ({guest.name}) (running)",
                                                     timeout=BOUND)


def test_a_selection_of_three_containers_starts_them_with_a_progress_bar(session: Session, admin_user, live_node,
                                                                       containers) -> None:
    page = session.login(admin_user.username)
    page.goto(f"/nodes/{live_node.name}/tab/guests/")
    bar = page.locator("[data-selection] .selection-bar")
    expect(bar.get_by_role("button", name="Start")).to_be_disabled()
    for guest in containers:
        page.check(f'input[name=vms][value="{guest.vmid}"]')
    expect(bar).to_contain_text("3 guests chosen")
    bar.get_by_role("button", name="Start").click()
    chosen = page.locator("ul.chosen li")
    expect(chosen).to_have_count(3)
    for guest in containers:
        expect(page.locator("ul.chosen")).to_contain_text(guest.name)
    screenshot(page, "selection-confirm")
    page.click("text=Start 3 guests")
    expect(page).to_have_url(re.compile(r"/tasks/UPID:"), timeout=30_000)
    progress = page.locator("[data-task-progress] .bar em")
    expect(progress).to_have_text("3 of 3", timeout=90_000)
    expect(page.locator("#task-status")).to_have_text("OK", timeout=90_000)
    steps = page.locator("table[data-task-table] tbody tr[data-upid]")
    expect(steps).to_have_count(3)
    screenshot(page, "bulk-task")
    for guest in containers:
        expect(tree_item(page, guest)).to_have_attribute("title", f"{guest.vmid} ({guest.name}) (running)",
                                                         timeout=BOUND)
