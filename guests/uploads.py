"""Uploads to a node's storage ``local``, as Proxmox's POST /nodes/{node}/storage/{storage}/upload: an ISO image
or a container template (a root file system archive, which becomes a template image of the node's Docker).

The web process stores the file in the node's upload directory (so the node must be the one it runs on) and
queues an ``upload`` task (Proxmox's imgcopy); the node's worker puts the file in place or imports it.
Names are checked before anything is written: a plain file name, no path, no leading dot.
"""

from __future__ import annotations

import os
import re
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile

from access import permissions
from access.audit import audited
from drivers.limits import ISO_NAME
from nodes.choices import NodeStatus
from nodes.models import LOCAL_STORAGE, Node
from panel.errors import Conflict, Forbidden, InvalidRequest, NodeUnavailable
from tasks.models import Task
from tasks.services import submit

from .models import GuestTemplate

# A container template archive; the template is named by what comes before the archive's extension.
TEMPLATE_ARCHIVE = re.compile(r"^([a-z0-9][a-z0-9._-]{0,62}?)\.(tar|tar\.gz|tgz|tar\.xz)$")
CONTENTS = ("iso", "vztmpl")


def template_name(filename: str) -> str | None:
    match = TEMPLATE_ARCHIVE.match(filename)
    return match.group(1) if match else None


def _check(user: AbstractBaseUser, node: Node, content: str, filename: str, size: int) -> None:
    if not permissions.has_privilege(user, "Datastore.AllocateTemplate", f"/storage/{LOCAL_STORAGE}"):
        raise Forbidden(f"Permission check failed (/storage/{LOCAL_STORAGE}, Datastore.AllocateTemplate)")
    if content not in CONTENTS:
        raise InvalidRequest(f"content must be iso or vztmpl, not '{content[:20]}'")
    if content == "iso" and not ISO_NAME.match(filename):
        raise InvalidRequest(f"'{filename[:80]}' is not an ISO image's name (letters, digits, '.', '_', '+', '-', "
                             "ending in .iso or .img)")
    if content == "vztmpl" and template_name(filename) is None:
        raise InvalidRequest(f"'{filename[:80]}' is not a container template archive's name (lower-case letters, "
                             "digits, '.', '_', '-', ending in .tar, .tar.gz, .tgz or .tar.xz)")
    if not 0 < size <= settings.PANEL_UPLOAD_MAX_BYTES:
        raise InvalidRequest(f"the file must hold between 1 and {settings.PANEL_UPLOAD_MAX_BYTES} bytes, not {size}")
    if node.name != settings.PANEL_NODE_NAME:
        raise InvalidRequest(f"uploads go to the node this web server runs on ({settings.PANEL_NODE_NAME}), "
                             f"not to {node.name}")
    if node.status != NodeStatus.ONLINE:
        raise NodeUnavailable(f"node {node.name} is {node.status}: its worker has not reported recently")
    if content == "iso" and (node.iso_dir / filename).exists():
        raise Conflict(f"{LOCAL_STORAGE}:iso/{filename} already exists")
    if content == "vztmpl" and GuestTemplate.objects.filter(node=node, kind="ct",
                                                            name=template_name(filename)).exists():
        raise Conflict(f"{LOCAL_STORAGE}:vztmpl/{template_name(filename)} already exists")


def request_upload(user: AbstractBaseUser, node: Node, content: str, upload: UploadedFile) -> Task:
    filename = str(upload.name or "")
    with audited(user, "storage.upload", f"{node.name}/{LOCAL_STORAGE}:{content[:20]}/{filename[:100]}") as outcome:
        _check(user, node, content, filename, upload.size or 0)
        node.upload_dir.mkdir(parents=True, exist_ok=True)
        staged = node.upload_dir / f"{secrets.token_hex(12)}.part"
        descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        task = submit(node, "upload", user, params={"content": content, "filename": filename, "path": str(staged)})
        outcome.detail = task.upid
    return task
