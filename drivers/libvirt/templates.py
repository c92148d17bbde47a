"""VM templates: directories ``<template_dir>/vm/<name>/`` holding a kernel, an initrd and template.json.

template.json::

    {"name": "tiny-linux", "kind": "vm", "description": "...", "kernel": "vmlinuz",
     "initrd": "initrd.img", "cmdline": "console=ttyS0 panic=-1", "min_memory_mib": 64}

Guests boot the kernel directly (no bootloader); file names are relative to the directory.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass

from ..errors import TemplateNotFound
from ..types import GuestKind, TemplateInfo

log = logging.getLogger(__name__)

TEMPLATE_FILE = "template.json"
DEFAULT_MIN_MEMORY_MIB = 32
# A directory name, never a path: "../x" must not reach outside template_dir.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class VmTemplate:
    name: str
    kernel: str  # absolute paths
    initrd: str | None
    cmdline: str
    description: str = ""
    min_memory_mib: int = DEFAULT_MIN_MEMORY_MIB

    def info(self) -> TemplateInfo:
        return TemplateInfo(
            name=self.name, kind=GuestKind.VM, description=self.description, min_memory_mib=self.min_memory_mib
        )


class _Broken(Exception):
    pass


def _file(directory: str, value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise _Broken(f"'{what}' must name a file")
    path = os.path.realpath(os.path.join(directory, value))
    if os.path.commonpath([path, directory]) != directory:
        raise _Broken(f"{what} '{value}' is outside the template directory")
    if not os.path.isfile(path):
        raise _Broken(f"{what} file '{value}' is missing")
    return path


def _read(directory: str, name: str) -> VmTemplate:
    try:
        with open(os.path.join(directory, TEMPLATE_FILE), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise _Broken(f"cannot read {TEMPLATE_FILE}: {exc}") from exc
    if not isinstance(data, dict):
        raise _Broken(f"{TEMPLATE_FILE} must hold a JSON object")
    if data.get("kind", "vm") != "vm":
        raise _Broken(f"kind is '{data.get('kind')}', not 'vm'")
    min_memory = data.get("min_memory_mib", DEFAULT_MIN_MEMORY_MIB)
    if not isinstance(min_memory, int) or min_memory < 1:
        raise _Broken("min_memory_mib must be a positive integer")
    initrd = data.get("initrd")
    return VmTemplate(
        name=name,
        kernel=_file(directory, data.get("kernel"), "kernel"),
        initrd=_file(directory, initrd, "initrd") if initrd else None,
        cmdline=str(data.get("cmdline", "")),
        description=str(data.get("description", "")),
        min_memory_mib=min_memory,
    )


def _root(template_dir: str) -> str:
    return os.path.realpath(os.path.join(template_dir, GuestKind.VM.value))


def load_template(template_dir: str, name: str) -> VmTemplate:
    """The template called ``name`` (its directory name); raises TemplateNotFound."""
    directory = os.path.join(_root(template_dir), name)
    if not _NAME.match(name) or not os.path.isfile(os.path.join(directory, TEMPLATE_FILE)):
        raise TemplateNotFound(f"VM template '{name}' does not exist on this node")
    try:
        return _read(os.path.realpath(directory), name)
    except _Broken as exc:
        raise TemplateNotFound(f"VM template '{name}' is unusable: {exc}") from exc


def list_templates(template_dir: str) -> list[VmTemplate]:
    """Every usable template, by name; broken ones are logged and left out."""
    root = _root(template_dir)
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    templates = []
    for name in names:
        if _NAME.match(name) and os.path.isfile(os.path.join(root, name, TEMPLATE_FILE)):
            try:
                templates.append(_read(os.path.realpath(os.path.join(root, name)), name))
            except _Broken as exc:
                log.warning("VM template %s is skipped: %s", name, exc)
    return templates
