"""The libvirt driver against a real daemon that goes away: restarted, killed, or refusing a definition. The
daemon is a private session daemon of this test (tests/drivers/daemons.py), never one other runs use."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from drivers.errors import EngineUnavailable, InvalidSpec
from drivers.libvirt import LibvirtDriver
from tests.daemons import PrivateLibvirtd, private_libvirtd
from tests.support import PREFIX

from .qemu import TEMPLATE_DIR, check_environment, spec


@pytest.fixture
def private() -> Iterator[PrivateLibvirtd]:
    check_environment()
    with private_libvirtd() as daemon:
        yield daemon


@pytest.fixture
def driver(private: PrivateLibvirtd) -> Iterator[LibvirtDriver]:
    driver = LibvirtDriver(private.uri, str(private.storage), TEMPLATE_DIR, name_prefix=PREFIX)
    yield driver
    driver.close()


def name() -> str:
    return f"{PREFIX}fault-{uuid.uuid4().hex[:6]}"


def test_reconnects_after_the_daemon_restarted_and_says_when_it_is_down(
    driver: LibvirtDriver, private: PrivateLibvirtd
) -> None:
    info = driver.create(spec(name(), random.randint(900_000_000, 999_999_999)))
    before = driver._host.get_connection()

    private.restart()
    assert driver.get_guest(info.backend_id) == info  # on a new connection, opened by itself
    assert driver._host.get_connection() is not before

    private.kill()
    with pytest.raises(EngineUnavailable, match=f"libvirt at {re.escape(private.uri)}"):
        driver.list_guests()
    with pytest.raises(EngineUnavailable):
        driver.get_guest(info.backend_id)
    private.start()
    assert [g.name for g in driver.list_guests()] == [info.name]
    driver.delete(info.backend_id)


def test_a_definition_the_daemon_refuses_leaves_no_disk(driver: LibvirtDriver, private: PrivateLibvirtd) -> None:
    """A session daemon cannot use KVM: a node set to the kvm accelerator has its VMs refused at definition."""
    with pytest.raises(InvalidSpec, match="does not support virt type 'kvm'"):
        driver.create(replace(spec(name(), random.randint(900_000_000, 999_999_999)), accelerator="kvm"))
    assert list(private.storage.iterdir()) == []
    assert driver.list_guests() == []
