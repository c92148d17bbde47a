"""Which Proxmox VE the API answers as: the API level of Proxmox VE 9.1 (pve-docs 9.1.3's schema), and the
panel's own revision as its repoid."""

from __future__ import annotations

import functools
import subprocess

from django.conf import settings

RELEASE = "9.1"
VERSION = "9.1.3"
UNKNOWN_REVISION = "00000000"


@functools.cache
def repoid() -> str:
    """The short git revision of the running code (Proxmox's repoid), or zeros outside a git checkout."""
    try:
        result = subprocess.run(["git", "rev-parse", "--short=8", "HEAD"], cwd=settings.BASE_DIR,
                                capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN_REVISION
    revision = result.stdout.strip()
    return revision if result.returncode == 0 and len(revision) >= 8 else UNKNOWN_REVISION


def version() -> dict:
    return {"version": VERSION, "release": RELEASE, "repoid": repoid(), "console": "xtermjs"}


def pveversion() -> str:
    """What /nodes/{node}/status says: ``pve-manager/9.1.3/<repoid>``."""
    return f"pve-manager/{VERSION}/{repoid()}"
