"""The files of panel VMs in a node's storage directory, handled as files: ``vm-<vmid>-disk-<n>.qcow2``, console
logs and UEFI variable stores; their paths, creation and removal. (Copies between nodes go through libvirt's
storage pools: ``storage_pools.py``.)"""

from __future__ import annotations

import logging
import os
import subprocess

from ..errors import DriverError, GuestAlreadyExists
from .config import GuestConfig

log = logging.getLogger(__name__)

QEMU_IMG = "qemu-img"
QEMU_IMG_TIMEOUT = 60  # seconds; creating an empty qcow2 takes milliseconds


def disk_path(storage_dir: str, vmid: int, index: int = 0) -> str:
    return os.path.join(storage_dir, f"vm-{vmid}-disk-{index}.qcow2")


def console_log_path(storage_dir: str, vmid: int) -> str:
    return os.path.join(storage_dir, f"vm-{vmid}-console.log")


def nvram_path(storage_dir: str, vmid: int) -> str:
    return os.path.join(storage_dir, f"vm-{vmid}-nvram.fd")


def files_in_storage(config: GuestConfig, storage_dir: str) -> list[str]:
    """The VM's disk files and console logs that are in ``storage_dir``: what removing the VM removes. Only the
    panel's storage is ours to clean: a disk elsewhere may be shared or precious. (libvirt removes the nvram.)"""
    files = [d.source for d in config.disks if d.type == "file" and d.source]
    files += [s.log_file for s in config.serials if s.log_file]
    return [f for f in files if is_under(f, storage_dir)]


def is_under(path: str, directory: str) -> bool:
    path, directory = os.path.realpath(path), os.path.realpath(directory)
    return path != directory and os.path.commonpath([path, directory]) == directory


def create_qcow2(path: str, size_gib: int) -> None:
    """Create an empty qcow2 disk; refuses to touch an existing file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        # Claim the name atomically first: qemu-img would silently overwrite another VM's disk.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise GuestAlreadyExists(f"disk {path} already exists: is this vmid used by another VM?") from None
    except OSError as exc:
        raise DriverError(f"cannot create disk {path}: {exc.strerror}") from exc
    try:
        _qemu_img_create(path, size_gib)
        give_to_directory_owner(path)
    except BaseException:
        remove_files([path])
        raise


COPY_TIMEOUT = 3600  # seconds for a full copy of a disk


def copy_qcow2(source: str, target: str) -> None:
    """A full copy of a disk as a new qcow2 (its internal snapshots left behind); refuses to touch an existing
    file, and leaves none when it fails."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise GuestAlreadyExists(f"disk {target} already exists: is this vmid used by another VM?") from None
    except OSError as exc:
        raise DriverError(f"cannot create disk {target}: {exc.strerror}") from exc
    try:
        _qemu_img(["convert", "-q", "-O", "qcow2", source, target], f"cannot copy disk {source}", COPY_TIMEOUT)
        give_to_directory_owner(target)
    except BaseException:
        remove_files([target])
        raise


def give_to_directory_owner(path: str) -> None:
    """Make a new file belong to the owner of its directory.

    A session libvirt (``qemu:///session`` of a dedicated user) runs QEMU as that user, who owns the
    storage directory: a disk created by a worker running as root must be handed over, or QEMU cannot
    open it. Under ``qemu:///system`` the directory and the file both belong to root: nothing changes.
    """
    try:
        directory = os.stat(os.path.dirname(path))
        if os.geteuid() == 0 and os.stat(path).st_uid != directory.st_uid:
            os.chown(path, directory.st_uid, directory.st_gid)
    except OSError as exc:
        raise DriverError(f"cannot give disk {path} to the owner of its directory: {exc.strerror}") from exc


def _qemu_img_create(path: str, size_gib: int) -> None:
    _qemu_img(["create", "-q", "-f", "qcow2", path, f"{size_gib}G"], f"cannot create disk {path}", QEMU_IMG_TIMEOUT)


def _qemu_img(args: list[str], failure: str, timeout: float) -> None:
    try:
        subprocess.run([QEMU_IMG, *args], check=True, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise DriverError(f"{failure}: {QEMU_IMG} is not installed") from exc
    except subprocess.CalledProcessError as exc:
        raise DriverError(f"{failure}: {exc.stderr.strip() or exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise DriverError(f"{failure}: {QEMU_IMG} did not finish in {exc.timeout:g} s") from exc


def resize_qcow2(path: str, size_bytes: int) -> None:
    """Grow the disk of a VM that is not running (a running one is grown by QEMU: ``Guest.block_resize``)."""
    try:
        subprocess.run([QEMU_IMG, "resize", "-q", "-f", "qcow2", path, str(size_bytes)], check=True,
                       capture_output=True, text=True, timeout=QEMU_IMG_TIMEOUT)
    except FileNotFoundError as exc:
        raise DriverError(f"cannot resize disk {path}: {QEMU_IMG} is not installed") from exc
    except subprocess.CalledProcessError as exc:
        raise DriverError(f"cannot resize disk {path}: {exc.stderr.strip() or exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise DriverError(f"cannot resize disk {path}: {QEMU_IMG} did not finish in {exc.timeout:g} s") from exc


def remove_files(paths: list[str]) -> list[str]:
    """Remove files that may or may not exist; returns those that could not be removed."""
    left = []
    for path in paths:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot remove %s: %s", path, exc)
            left.append(path)
    return left
