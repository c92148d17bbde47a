"""The rules of a guest's settings, as guests.config and panel.parsing read them (no engine involved)."""

from __future__ import annotations

import pytest

from guests.config import ParameterErrors, digest, guest_config, parse_change, pending_entries
from panel.errors import InvalidRequest
from panel.parsing import disk_size, startup_spec, tag_list
from tests.factories import GuestFactory

pytestmark = pytest.mark.django_db


def test_proxmox_formats() -> None:
    assert startup_spec("order=2,up=30,down=60") == {"order": 2, "up": 30, "down": 60}
    assert startup_spec("3,down=5") == {"order": 3, "down": 5}
    assert startup_spec("") == {}
    for bad in ("up=1,3", "order=1,order=2", "order=-1", "first", "up=²"):
        with pytest.raises(InvalidRequest):
            startup_spec(bad)
    assert tag_list("web, prod;web db") == ["web", "prod", "db"]
    with pytest.raises(InvalidRequest):
        tag_list("-leading")
    assert disk_size("+2G", "size", maximum=2**50) == (True, 2 * 1024**3)
    assert disk_size("1.5T", "size", maximum=2**50) == (False, 1536 * 1024**3)
    assert disk_size("4096", "size", maximum=2**50) == (False, 4096)
    for bad in ("-1G", "2X", "G", "1e9"):
        with pytest.raises(InvalidRequest):
            disk_size(bad, "size", maximum=2**50)


def test_changes_are_checked_and_named(node) -> None:
    node.cpus = 8  # the row's figure: what the node's own bound is checked against
    node.save(update_fields=["cpus"])
    vm = GuestFactory(node=node, kind="vm", vcpus=1, memory_mib=128, name="rules-vm")
    change = parse_change(vm, {"sockets": "2", "cores": "2", "tags": "a b", "startup": "1,up=5"})
    assert change.values == {"cores": 4, "tags": "a;b", "startup": "order=1,up=5"}
    with pytest.raises(ParameterErrors, match="has only 8 CPUs"):
        parse_change(vm, {"sockets": "2", "cores": "5"})
    assert parse_change(vm, {"memory": "current=96"}).values == {"memory": "96"}
    with pytest.raises(ParameterErrors) as caught:
        parse_change(vm, {"hostname": "x", "memory": "1", "bogus": "1"}, delete="memory,nothing")
    assert set(caught.value.errors) == {"hostname", "memory", "bogus", "delete"}
    with pytest.raises(ParameterErrors):
        parse_change(vm, {"description": "x"}, delete="description")
    with pytest.raises(ParameterErrors):
        parse_change(vm, {}, delete="tags", revert="tags")
    with pytest.raises(InvalidRequest, match="no options specified"):
        parse_change(vm, {})


def test_the_nic_read_from_the_config_is_taken_back_and_no_other(node) -> None:
    """Clients send back the config they read, net0 with it: that one changes nothing, another is named."""
    for kind in ("vm", "ct"):
        guest = GuestFactory(node=node, kind=kind, vcpus=1, memory_mib=128, name=f"rules-nic-{kind}")
        present = guest_config(guest)["net0"]
        assert parse_change(guest, {"net0": present, "tags": "a"}).values == {"tags": "a"}
        with pytest.raises(ParameterErrors) as caught:
            parse_change(guest, {"net0": "virtio,bridge=elsewhere", "tags": "a"})
        assert set(caught.value.errors) == {"net0"} and present in caught.value.errors["net0"]


def test_pending_values_show_in_the_config_and_change_its_digest(node) -> None:
    vm = GuestFactory(node=node, kind="vm", vcpus=1, memory_mib=128, name="rules-pending")
    before = digest(vm)
    vm.pending = {"cores": 2}
    assert digest(vm) != before
    assert guest_config(vm)["cores"] == 2 and guest_config(vm, current=True)["cores"] == 1
    assert {"key": "cores", "value": 1, "pending": 2} in pending_entries(vm)
