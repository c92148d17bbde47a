"""Files as libvirt storage volumes: a directory pool over a node's storage dir, and copies between nodes.

Migration copies disks with libvirt storage streams (virStorageVolDownload on the source, Upload on the
target) rather than as files: the bytes travel over the two libvirt connections, so this works between
machines as between two daemons on one host, and the target file is created by the target's own daemon,
owned by the user its QEMU runs as (root for qemu:///system, the session user for qemu:///session).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from contextlib import suppress

import libvirt
from lxml import etree

from ..errors import DriverError, GuestAlreadyExists
from .config import parse_xml, to_xml
from .host import Host

CHUNK = 1024 * 1024


def _pool_xml(name: str, path: str) -> str:
    root = etree.Element("pool", type="dir")
    etree.SubElement(root, "name").text = name
    etree.SubElement(etree.SubElement(root, "target"), "path").text = path
    return to_xml(root)


def _volume_xml(name: str, capacity: int, fmt: str) -> str:
    root = etree.Element("volume")
    etree.SubElement(root, "name").text = name
    etree.SubElement(root, "capacity", unit="bytes").text = str(capacity)
    etree.SubElement(root, "allocation", unit="bytes").text = "0"
    etree.SubElement(etree.SubElement(root, "target"), "format", type=fmt)
    return to_xml(root)


def storage_pool(host: Host, directory: str) -> libvirt.virStoragePool:
    """The active pool whose target is ``directory``, made as a transient dir pool when there is none."""
    directory = os.path.realpath(directory)
    with host.errors(f"storage pool at {directory}"):
        conn = host.get_connection()
        for pool in conn.listAllStoragePools(0):
            path = parse_xml(pool.XMLDesc(0)).findtext("target/path") or ""
            if path and os.path.realpath(path) == directory:
                if not pool.isActive():
                    pool.create(0)
                break
        else:
            # Transient: it lives as long as the daemon and leaves no configuration behind.
            name = "panel-" + hashlib.sha1(directory.encode()).hexdigest()[:12]
            pool = conn.storagePoolCreateXML(
                _pool_xml(name, directory), libvirt.VIR_STORAGE_POOL_CREATE_WITH_BUILD
            )
        return pool


def find_volume(host: Host, path: str) -> libvirt.virStorageVol | None:
    """The volume of the file ``path``, None when there is no such file."""
    pool = storage_pool(host, os.path.dirname(path))
    with host.errors(f"file {path}"):
        try:
            volume = pool.storageVolLookupByName(os.path.basename(path))
            volume.info()  # reads the file again: fails for one removed behind libvirt's back
            return volume
        except libvirt.libvirtError:
            # Files come and go outside libvirt's knowledge (qemu-img makes the disks, deletes remove them):
            # read the directory again, once.
            pool.refresh(0)
        try:
            volume = pool.storageVolLookupByName(os.path.basename(path))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:
                raise
            return None
        return volume


def sizes(host: Host, volume: libvirt.virStorageVol) -> tuple[int, int]:
    """A volume's virtual capacity and the bytes its file holds (a qcow2 file is smaller than its capacity), as
    the file is now (libvirt reads it again for each call)."""
    with host.errors("volume"):
        _type, capacity, physical = volume.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)
    return capacity, physical


def copy_volume(
    source: Host, source_path: str, target: Host, target_path: str, progress: Callable[[str], None], what: str = "disk"
) -> libvirt.virStorageVol:
    """Copy one file byte for byte to the target node's storage; returns the new volume.

    The target volume is removed again if the copy fails.
    """
    volume = find_volume(source, source_path)
    if volume is None:
        raise DriverError(f"{what} {source_path} does not exist")
    capacity, size = sizes(source, volume)
    if find_volume(target, target_path) is not None:
        raise GuestAlreadyExists(f"{what} {target_path} already exists on the target node")
    target_pool = storage_pool(target, os.path.dirname(target_path))
    with target.errors(f"{what} {target_path}"):
        # Raw of the file's size: the upload writes the qcow2 file's bytes as they are.
        copy = target_pool.createXML(_volume_xml(os.path.basename(target_path), size, "raw"), 0)
    progress(f"copying {what} {source_path} ({size / 1024 / 1024:.1f} MiB, {capacity / 1024**3:g} GiB virtual) "
             f"to {target_path}")
    try:
        _stream(source, volume, target, copy, size)
    except BaseException:
        with suppress(libvirt.libvirtError):
            copy.delete(0)
        raise
    return copy


def _stream(source: Host, volume: libvirt.virStorageVol, target: Host, copy: libvirt.virStorageVol,
            size: int) -> None:
    download = upload = None
    try:
        with source.errors("disk download"):
            download = source.get_connection().newStream(0)
            volume.download(download, 0, size, 0)
        with target.errors("disk upload"):
            upload = target.get_connection().newStream(0)
            copy.upload(upload, 0, size, 0)
        done = 0
        while True:
            with source.errors("disk download"):
                data = download.recv(CHUNK)
            if isinstance(data, int):  # -2: would block; a blocking stream never says so
                raise DriverError(f"disk download stalled after {done} bytes")
            if not data:
                break
            view = memoryview(data)
            while view:
                with target.errors("disk upload"):
                    sent = upload.send(bytes(view))
                view = view[sent:]
            done += len(data)
        if done != size:
            raise DriverError(f"disk copy ended after {done} of {size} bytes")
        with source.errors("disk download"):
            download.finish()
        download = None
        with target.errors("disk upload"):
            upload.finish()
        upload = None
    finally:
        for stream in (download, upload):
            if stream is not None:
                with suppress(libvirt.libvirtError):
                    stream.abort()


def create_empty_like(target: Host, target_path: str, capacity: int) -> libvirt.virStorageVol:
    """An empty qcow2 of ``capacity`` bytes on the target, for a live migration to copy the disk into."""
    pool = storage_pool(target, os.path.dirname(target_path))
    with target.errors(f"disk {target_path}"):
        return pool.createXML(_volume_xml(os.path.basename(target_path), capacity, "qcow2"), 0)


def delete_volume(host: Host, volume: libvirt.virStorageVol) -> None:
    with host.errors("volume"):
        volume.delete(0)
