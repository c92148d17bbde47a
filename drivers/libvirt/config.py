"""Domain XML as config objects: ``format_dom`` builds an lxml element, ``parse_dom`` reads one back.

These classes only describe XML; what a panel guest looks like (policy) is decided
in ``driver.py``. Text and attributes always go through lxml, which escapes them:
never assemble domain XML from strings. Parsing keeps only what the panel uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from lxml import etree

# Our <metadata> child. libvirt keys metadata by namespace URI, so the URI is our
# identity: keep it stable, or existing guests lose their vmid.
PANEL_NS = "urn:x-panel:guest:1"
PANEL_PREFIX = "panel"

# Parse untrusted XML without entities or network access (XXE, billion laughs).
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)

_UNITS = {
    "b": 1, "bytes": 1,
    "kb": 1000, "k": 1024, "kib": 1024,
    "mb": 1000**2, "m": 1024**2, "mib": 1024**2,
    "gb": 1000**3, "g": 1024**3, "gib": 1024**3,
    "tb": 1000**4, "t": 1024**4, "tib": 1024**4,
}  # fmt: skip


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, tag, {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        element.text = text
    return element


def _localname(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _to_kib(element: etree._Element | None) -> int:
    """A libvirt size element (``<memory unit='MiB'>64</memory>``) in KiB; libvirt's default unit is KiB."""
    if element is None or not (element.text or "").strip():
        return 0
    unit = (element.get("unit") or "KiB").lower()
    if unit not in _UNITS:
        raise ValueError(f"unknown size unit '{unit}'")
    return int(element.text.strip()) * _UNITS[unit] // 1024


def to_xml(element: etree._Element) -> str:
    return etree.tostring(element, encoding="unicode", pretty_print=True)


def parse_xml(xml: str | bytes) -> etree._Element:
    return etree.fromstring(xml.encode() if isinstance(xml, str) else xml, parser=_PARSER)


class ConfigObject:
    root_name: ClassVar[str]

    def format_dom(self) -> etree._Element:
        raise NotImplementedError

    @classmethod
    def parse_dom(cls, element: etree._Element) -> ConfigObject:
        raise NotImplementedError

    def to_xml(self) -> str:
        return to_xml(self.format_dom())

    @classmethod
    def parse_str(cls, xml: str | bytes) -> ConfigObject:
        return cls.parse_dom(parse_xml(xml))


@dataclass
class GuestMetadata(ConfigObject):
    """``<panel:guest>``: what the panel must recover from the domain alone (after a DB loss or a migration)."""

    root_name: ClassVar[str] = "guest"
    vmid: int | None = None
    template: str = ""

    def format_dom(self) -> etree._Element:
        root = etree.Element(etree.QName(PANEL_NS, self.root_name), nsmap={PANEL_PREFIX: PANEL_NS})
        if self.vmid is not None:
            _sub(root, etree.QName(PANEL_NS, "vmid").text, str(self.vmid))
        if self.template:
            _sub(root, etree.QName(PANEL_NS, "template").text, self.template)
        return root

    @classmethod
    def parse_dom(cls, element: etree._Element) -> GuestMetadata:
        # Match local names: virDomainGetMetadata hands our element back without its namespace.
        values = {_localname(child): (child.text or "").strip() for child in element}
        vmid = values.get("vmid", "")
        return cls(vmid=int(vmid) if vmid.isdigit() else None, template=values.get("template", ""))


@dataclass
class GuestDisk(ConfigObject):
    root_name: ClassVar[str] = "disk"
    source: str = ""  # a file path for type 'file', a device for type 'block'
    target: str = "vda"
    bus: str = "virtio"
    format: str = "qcow2"
    type: str = "file"
    device: str = "disk"

    def format_dom(self) -> etree._Element:
        root = etree.Element(self.root_name, type=self.type, device=self.device)
        _sub(root, "driver", name="qemu", type=self.format)
        _sub(root, "source", **{"file" if self.type == "file" else "dev": self.source})
        _sub(root, "target", dev=self.target, bus=self.bus)
        if self.device == "cdrom":
            _sub(root, "readonly")
        return root

    @classmethod
    def parse_dom(cls, element: etree._Element) -> GuestDisk:
        source = element.find("source")
        target = element.find("target")
        driver = element.find("driver")
        path = ""
        if source is not None:
            path = source.get("file") or source.get("dev") or source.get("name") or ""
        return cls(
            source=path,
            target=target.get("dev", "") if target is not None else "",
            bus=target.get("bus", "") if target is not None else "",
            format=driver.get("type", "") if driver is not None else "",
            type=element.get("type", ""),
            device=element.get("device", "disk"),
        )


@dataclass
class GuestInterface(ConfigObject):
    """A NIC: ``user`` (QEMU's own NAT, no host device) or ``bridge`` on ``source_bridge`` (a tap device
    that libvirt counts traffic on; user networking has no traffic counters)."""

    root_name: ClassVar[str] = "interface"
    type: str = "user"
    model: str = "virtio"
    mac: str | None = None
    source_bridge: str | None = None

    def format_dom(self) -> etree._Element:
        root = etree.Element(self.root_name, type=self.type)
        if self.mac:
            _sub(root, "mac", address=self.mac)
        if self.source_bridge:
            _sub(root, "source", bridge=self.source_bridge)
        _sub(root, "model", type=self.model)
        return root

    @classmethod
    def parse_dom(cls, element: etree._Element) -> GuestInterface:
        model = element.find("model")
        mac = element.find("mac")
        source = element.find("source")
        return cls(
            type=element.get("type", ""),
            model=model.get("type", "") if model is not None else "",
            mac=mac.get("address") if mac is not None else None,
            source_bridge=source.get("bridge") if source is not None else None,
        )

    @classmethod
    def on(cls, bridge: str, model: str = "virtio", mac: str | None = None) -> GuestInterface:
        """A NIC on ``bridge``, or on user networking when it is empty."""
        if bridge:
            return cls(type="bridge", model=model, mac=mac, source_bridge=bridge)
        return cls(type="user", model=model, mac=mac)


@dataclass
class GuestSerial(ConfigObject):
    """A pty serial port; ``log_file`` keeps a copy of its output (written by virtlogd)."""

    root_name: ClassVar[str] = "serial"
    type: str = "pty"
    log_file: str | None = None
    log_append: bool = False
    port: int = 0

    def format_dom(self) -> etree._Element:
        root = etree.Element(self.root_name, type=self.type)
        if self.log_file:
            _sub(root, "log", file=self.log_file, append="on" if self.log_append else "off")
        _sub(root, "target", port=str(self.port))
        return root

    @classmethod
    def parse_dom(cls, element: etree._Element) -> GuestSerial:
        log = element.find("log")
        target = element.find("target")
        port = target.get("port", "0") if target is not None else "0"
        return cls(
            type=element.get("type", ""),
            log_file=log.get("file") if log is not None else None,
            log_append=log is not None and log.get("append") == "on",
            port=int(port) if port.isdigit() else 0,
        )


@dataclass
class GuestConsole(ConfigObject):
    """The console libvirt attaches to (``virsh console``); on x86 it aliases serial port 0."""

    root_name: ClassVar[str] = "console"
    type: str = "pty"
    target_type: str = "serial"

    def format_dom(self) -> etree._Element:
        root = etree.Element(self.root_name, type=self.type)
        _sub(root, "target", type=self.target_type, port="0")
        return root

    @classmethod
    def parse_dom(cls, element: etree._Element) -> GuestConsole:
        target = element.find("target")
        return cls(type=element.get("type", ""), target_type=target.get("type", "") if target is not None else "")


@dataclass
class GuestGraphics(ConfigObject):
    root_name: ClassVar[str] = "graphics"
    type: str = "vnc"
    listen: str = "127.0.0.1"
    autoport: bool = True
    port: int | None = None  # the port libvirt picked, in a running domain's XML

    def format_dom(self) -> etree._Element:
        root = etree.Element(self.root_name, type=self.type, autoport="yes" if self.autoport else "no")
        if self.port is not None:
            root.set("port", str(self.port))
        _sub(root, "listen", type="address", address=self.listen)
        return root

    @classmethod
    def parse_dom(cls, element: etree._Element) -> GuestGraphics:
        listen = element.find("listen")
        address = listen.get("address") if listen is not None else None
        port = element.get("port", "")
        return cls(
            type=element.get("type", ""),
            listen=address or element.get("listen", ""),
            autoport=element.get("autoport") == "yes",
            port=int(port) if port.isdigit() else None,
        )


@dataclass
class GuestMemballoon(ConfigObject):
    """The balloon device; with a stats period, guests with its driver report their own memory use."""

    root_name: ClassVar[str] = "memballoon"
    model: str = "virtio"
    stats_period: int | None = None  # seconds

    def format_dom(self) -> etree._Element:
        root = etree.Element(self.root_name, model=self.model)
        if self.stats_period:
            _sub(root, "stats", period=str(self.stats_period))
        return root

    @classmethod
    def parse_dom(cls, element: etree._Element) -> GuestMemballoon:
        stats = element.find("stats")
        period = stats.get("period", "") if stats is not None else ""
        return cls(model=element.get("model", ""), stats_period=int(period) if period.isdigit() else None)


Device = GuestDisk | GuestInterface | GuestSerial | GuestConsole | GuestGraphics | GuestMemballoon
_DEVICES: dict[str, type[ConfigObject]] = {
    cls.root_name: cls for cls in (GuestDisk, GuestInterface, GuestSerial, GuestConsole, GuestGraphics, GuestMemballoon)
}


@dataclass
class GuestConfig(ConfigObject):
    """A whole ``<domain>``. Devices the panel does not model are skipped when parsing."""

    root_name: ClassVar[str] = "domain"
    virt_type: str = "kvm"
    name: str = ""
    uuid: str | None = None
    memory_kib: int = 0
    vcpus: int = 1
    os_type: str = "hvm"
    arch: str = "x86_64"
    machine: str = "pc"
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
    nvram: str | None = None  # UEFI variable store: undefine must be told to remove it
    boot: list[str] = field(default_factory=list)  # the firmware's boot order (hd, cdrom...); empty: libvirt's
    features: list[str] = field(default_factory=lambda: ["acpi"])
    on_poweroff: str = "destroy"
    on_reboot: str = "restart"
    on_crash: str = "destroy"
    devices: list[Device] = field(default_factory=list)
    metadata: GuestMetadata | None = None

    @property
    def disks(self) -> list[GuestDisk]:
        """The VM's own disks; CD/DVD drives are not among them (their images are shared, never the VM's)."""
        return [d for d in self.devices if isinstance(d, GuestDisk) and d.device != "cdrom"]

    @property
    def cdroms(self) -> list[GuestDisk]:
        return [d for d in self.devices if isinstance(d, GuestDisk) and d.device == "cdrom"]

    @property
    def serials(self) -> list[GuestSerial]:
        return [d for d in self.devices if isinstance(d, GuestSerial)]

    def format_dom(self) -> etree._Element:
        root = etree.Element(self.root_name, type=self.virt_type)
        _sub(root, "name", self.name)
        if self.uuid:
            _sub(root, "uuid", self.uuid)
        if self.metadata is not None:
            _sub(root, "metadata").append(self.metadata.format_dom())
        _sub(root, "memory", str(self.memory_kib), unit="KiB")
        _sub(root, "vcpu", str(self.vcpus))
        os_element = _sub(root, "os")
        _sub(os_element, "type", self.os_type, arch=self.arch, machine=self.machine)
        for device in self.boot:
            _sub(os_element, "boot", dev=device)
        for tag in ("nvram", "kernel", "initrd", "cmdline"):
            if getattr(self, tag) is not None:
                _sub(os_element, tag, getattr(self, tag))
        if self.features:
            features = _sub(root, "features")
            for feature in self.features:
                _sub(features, feature)
        _sub(root, "on_poweroff", self.on_poweroff)
        _sub(root, "on_reboot", self.on_reboot)
        _sub(root, "on_crash", self.on_crash)
        devices = _sub(root, "devices")
        for device in self.devices:
            devices.append(device.format_dom())
        return root

    @classmethod
    def parse_dom(cls, element: etree._Element) -> GuestConfig:
        if element.tag != cls.root_name:
            raise ValueError(f"expected <{cls.root_name}>, got <{element.tag}>")
        os_type = element.find("os/type")
        vcpu = element.findtext("vcpu", "1").strip()
        metadata = element.find(f"metadata/{{{PANEL_NS}}}{GuestMetadata.root_name}")
        features = element.find("features")
        devices = element.find("devices")
        return cls(
            virt_type=element.get("type", ""),
            name=element.findtext("name", ""),
            uuid=element.findtext("uuid"),
            memory_kib=_to_kib(element.find("memory")),
            vcpus=int(vcpu) if vcpu.isdigit() else 1,
            os_type=os_type.text if os_type is not None and os_type.text else "",
            arch=os_type.get("arch", "") if os_type is not None else "",
            machine=os_type.get("machine", "") if os_type is not None else "",
            kernel=element.findtext("os/kernel"),
            initrd=element.findtext("os/initrd"),
            cmdline=element.findtext("os/cmdline"),
            nvram=element.findtext("os/nvram"),
            boot=[b.get("dev", "") for b in element.iterfind("os/boot")],
            features=[_localname(f) for f in features if _localname(f)] if features is not None else [],
            on_poweroff=element.findtext("on_poweroff", ""),
            on_reboot=element.findtext("on_reboot", ""),
            on_crash=element.findtext("on_crash", ""),
            devices=[
                _DEVICES[child.tag].parse_dom(child)
                for child in (devices if devices is not None else [])
                if child.tag in _DEVICES
            ],
            metadata=GuestMetadata.parse_dom(metadata) if metadata is not None else None,
        )


@dataclass
class SnapshotConfig(ConfigObject):
    """A ``<domainsnapshot>``: what the panel asks for (name, description) and reads back of one libvirt holds
    (when it was taken, its parent, the domain's state then: running or paused ones hold the RAM)."""

    root_name: ClassVar[str] = "domainsnapshot"
    name: str = ""
    description: str = ""
    creation_time: int = 0
    state: str = ""
    parent: str = ""

    @property
    def has_memory(self) -> bool:
        return self.state in ("running", "paused", "blocked")

    def format_dom(self) -> etree._Element:
        root = etree.Element(self.root_name)
        _sub(root, "name", self.name)
        if self.description:
            _sub(root, "description", self.description)
        return root

    @classmethod
    def parse_dom(cls, element: etree._Element) -> SnapshotConfig:
        if element.tag != cls.root_name:
            raise ValueError(f"expected <{cls.root_name}>, got <{element.tag}>")
        created = element.findtext("creationTime", "0").strip()
        return cls(
            name=element.findtext("name", ""),
            description=element.findtext("description", ""),
            creation_time=int(created) if created.isdigit() else 0,
            state=element.findtext("state", ""),
            parent=element.findtext("parent/name", ""),
        )
