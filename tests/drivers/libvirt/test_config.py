"""Domain XML from config objects and back, without libvirt (except one define on test:///default)."""

from __future__ import annotations

import libvirt
import pytest
from lxml import etree

from drivers.libvirt.config import (
    PANEL_NS,
    GuestConfig,
    GuestConsole,
    GuestDisk,
    GuestGraphics,
    GuestInterface,
    GuestMemballoon,
    GuestMetadata,
    GuestSerial,
    parse_xml,
)

ODD = """a<b>&c'd"e ]]> \u00e9\u2603 &amp; <!-- x -->"""


def make_config(**overrides: object) -> GuestConfig:
    values: dict = dict(
        virt_type="qemu",
        name="web1",
        memory_kib=128 * 1024,
        vcpus=2,
        kernel="/var/lib/panel/templates/vm/tiny-linux/vmlinuz",
        initrd="/var/lib/panel/templates/vm/tiny-linux/initrd.img",
        cmdline="console=ttyS0 panic=-1",
        devices=[
            GuestDisk(source="/srv/vm-100-disk-0.qcow2"),
            GuestInterface(),
            GuestSerial(log_file="/srv/vm-100-console.log"),
            GuestConsole(),
            GuestGraphics(),
            GuestMemballoon(stats_period=10),
        ],
        metadata=GuestMetadata(vmid=100, template="tiny-linux"),
    )
    values.update(overrides)
    return GuestConfig(**values)


def test_domain_xml_has_what_a_panel_vm_needs() -> None:
    root = parse_xml(make_config().to_xml())

    assert root.tag == "domain" and root.get("type") == "qemu"
    assert root.findtext("name") == "web1"
    assert root.find("memory").get("unit") == "KiB" and root.findtext("memory") == str(128 * 1024)
    assert root.findtext("vcpu") == "2"
    os_type = root.find("os/type")
    assert (os_type.text, os_type.get("arch"), os_type.get("machine")) == ("hvm", "x86_64", "pc")
    assert root.findtext("os/kernel").endswith("/vmlinuz")
    assert root.findtext("os/cmdline") == "console=ttyS0 panic=-1"
    assert root.find("features/acpi") is not None
    assert [root.findtext(t) for t in ("on_poweroff", "on_reboot", "on_crash")] == ["destroy", "restart", "destroy"]
    disk = root.find("devices/disk")
    assert (disk.get("type"), disk.find("driver").get("type"), disk.find("target").get("bus")) == (
        "file",
        "qcow2",
        "virtio",
    )
    assert root.find("devices/interface").get("type") == "user"
    assert root.find("devices/interface/model").get("type") == "virtio"
    log = root.find("devices/serial/log")
    assert (log.get("file"), log.get("append")) == ("/srv/vm-100-console.log", "off")
    assert root.find("devices/console").get("type") == "pty"
    graphics = root.find("devices/graphics")
    assert (graphics.get("type"), graphics.get("autoport"), graphics.find("listen").get("address")) == (
        "vnc",
        "yes",
        "127.0.0.1",
    )
    assert root.find("devices/memballoon/stats").get("period") == "10"


def test_round_trip() -> None:
    config = make_config(uuid="6695eb01-f6a4-8304-79aa-97f2502e193f")
    assert GuestConfig.parse_str(config.to_xml()) == config


def test_a_cd_image_is_read_only_apart_from_the_disks_and_first_in_the_boot_order() -> None:
    disk = GuestDisk(source="/srv/vm-1-disk-0.qcow2")
    cdrom = GuestDisk(source="/srv/template/iso/a.iso", target="hdc", bus="ide", format="raw", device="cdrom")
    config = make_config(kernel=None, initrd=None, cmdline=None, boot=["cdrom", "hd"], devices=[disk, cdrom])
    root = parse_xml(config.to_xml())
    assert [b.get("dev") for b in root.iterfind("os/boot")] == ["cdrom", "hd"]
    assert root.find("devices/disk[@device='cdrom']/readonly") is not None
    assert root.find("devices/disk[@device='disk']/readonly") is None
    parsed = GuestConfig.parse_str(config.to_xml())
    assert parsed == config and parsed.disks == [disk] and parsed.cdroms == [cdrom]


def test_bridged_nic_and_user_networking() -> None:
    bridged = GuestInterface.on("panelbr0", mac="52:54:00:12:34:56")
    root = parse_xml(make_config(devices=[bridged]).to_xml())
    nic = root.find("devices/interface")
    assert (nic.get("type"), nic.find("source").get("bridge"), nic.find("mac").get("address")) == (
        "bridge", "panelbr0", "52:54:00:12:34:56")
    assert GuestConfig.parse_str(make_config(devices=[bridged]).to_xml()).devices == [bridged]
    assert GuestInterface.on("") == GuestInterface(type="user")


def test_odd_characters_are_escaped_and_survive() -> None:
    config = make_config(
        name=ODD,
        cmdline=f"console=ttyS0 {ODD}",
        devices=[GuestDisk(source=f"/srv/{ODD}.qcow2"), GuestSerial(log_file=f"/srv/'{ODD}\".log")],
        metadata=GuestMetadata(vmid=7, template=ODD),
    )
    xml = config.to_xml()

    assert "<b>" not in xml and "&lt;b&gt;" in xml
    assert GuestConfig.parse_str(xml) == config


def test_text_cannot_inject_elements() -> None:
    config = make_config(cmdline="x</cmdline><kernel>/evil</kernel><cmdline>y")
    root = parse_xml(config.to_xml())
    assert len(root.findall("os/kernel")) == 1 and len(root.findall("os/cmdline")) == 1
    assert root.findtext("os/cmdline") == "x</cmdline><kernel>/evil</kernel><cmdline>y"


def test_metadata_round_trip_and_namespace() -> None:
    metadata = GuestMetadata(vmid=123456, template="tiny-linux")
    element = metadata.format_dom()

    assert etree.QName(element).namespace == PANEL_NS
    assert GuestMetadata.parse_str(metadata.to_xml()) == metadata
    # virDomainGetMetadata returns our element with the namespace stripped.
    assert GuestMetadata.parse_str("<guest><vmid>5</vmid><template>t</template></guest>") == GuestMetadata(5, "t")
    assert GuestMetadata.parse_str("<guest/>") == GuestMetadata(None, "")


def test_config_without_our_metadata() -> None:
    config = make_config(metadata=None)
    assert GuestConfig.parse_str(config.to_xml()).metadata is None


def test_parse_units_and_unknown_devices() -> None:
    xml = """<domain type='kvm'><name>x</name><memory unit='GiB'>2</memory><vcpu placement='static'>4</vcpu>
      <os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type><nvram>/var/lib/nvram.fd</nvram></os>
      <devices><emulator>/usr/bin/qemu-system-x86_64</emulator><video><model type='cirrus'/></video>
      <disk type='block' device='disk'><source dev='/dev/sdb'/><target dev='vdb' bus='virtio'/></disk>
      </devices></domain>"""
    config = GuestConfig.parse_str(xml)

    assert (config.memory_kib, config.vcpus, config.nvram) == (2 * 1024 * 1024, 4, "/var/lib/nvram.fd")
    assert config.devices == [GuestDisk(source="/dev/sdb", target="vdb", bus="virtio", format="", type="block")]
    assert GuestConfig.parse_str("<domain><memory>1024</memory></domain>").memory_kib == 1024  # KiB by default


def test_parser_does_not_resolve_entities() -> None:
    xml = '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><domain type="kvm"><name>&x;</name></domain>'
    assert "root" not in (GuestConfig.parse_str(xml).name or "")


def test_parse_rejects_other_roots() -> None:
    with pytest.raises(ValueError):
        GuestConfig.parse_str("<network/>")


def test_libvirt_accepts_our_xml_and_keeps_metadata() -> None:
    conn = libvirt.open("test:///default")
    domain = None
    try:
        config = make_config(name="meta-check", metadata=GuestMetadata(vmid=4242, template=ODD))
        domain = conn.defineXML(config.to_xml())
        parsed = GuestConfig.parse_str(domain.XMLDesc(0))
        assert parsed.metadata == config.metadata
        assert parsed.disks == config.disks
        direct = domain.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, PANEL_NS, 0)
        assert GuestMetadata.parse_str(direct) == config.metadata
    finally:
        if domain is not None:
            domain.undefine()  # test:///default state is shared by the whole process
        conn.close()
