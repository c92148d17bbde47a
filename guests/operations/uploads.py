"""The upload task (Proxmox's imgcopy): an uploaded ISO image put in place, or a container template imported."""

from __future__ import annotations

import os
from pathlib import Path

from drivers.errors import InvalidSpec
from tasks.context import TaskContext
from tasks.registry import register

from ..inventory import sync_templates
from ..uploads import template_name


@register("upload", "Upload", "imgcopy")
def upload(context: TaskContext) -> str:
    params, node = context.params, context.node
    staged = Path(params["path"])
    if staged.parent != node.upload_dir:  # only what the service staged, never a path of the request's
        raise InvalidSpec(f"{staged} is not an upload of node {node.name}")
    try:
        if params["content"] == "iso":
            target = node.iso_dir / params["filename"]
            node.iso_dir.mkdir(parents=True, exist_ok=True)
            if target.exists():
                raise InvalidSpec(f"local:iso/{params['filename']} already exists")
            os.replace(staged, target)
            context.log(f"stored local:iso/{params['filename']} ({target.stat().st_size} bytes)")
        else:
            name = template_name(params["filename"])
            driver = context.driver("ct")
            context.log(f"importing {params['filename']} as container template {name}")
            driver.import_template(name, str(staged), f"uploaded as {params['filename']}")
            sync_templates(node, "ct", driver.list_templates())
            context.log(f"container template local:vztmpl/{name} ready")
    finally:
        staged.unlink(missing_ok=True)
    return "OK"
