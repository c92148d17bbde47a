"""Numbers and ids from requests: ASCII decimals only, each within its bound, or a clear error.

``str.isdigit`` takes "²" and "③", which ``int`` then refuses; and an unbounded number overflows SQL. Every
number a page or the API reads goes through here.
"""

from __future__ import annotations

import re

from .errors import InvalidRequest

_DECIMAL = re.compile(r"[0-9]{1,20}")  # ASCII only: re's [0-9] is not \d


def decimal(value: object, name: str, *, maximum: int, minimum: int = 0) -> int:
    """``value`` (a str from a query or a form) as an int in [minimum, maximum]; InvalidRequest otherwise."""
    text = str(value).strip()
    if not _DECIMAL.fullmatch(text):
        raise InvalidRequest(f"{name}: a whole number from {minimum} to {maximum} is needed, not {text[:40]!r}")
    number = int(text)
    if not minimum <= number <= maximum:
        raise InvalidRequest(f"{name}: a whole number from {minimum} to {maximum} is needed, not {number}")
    return number


def decimal_or_none(value: object) -> int | None:
    """``value`` as an int when it is an ASCII decimal of at most 20 digits, else None (a search term)."""
    text = str(value).strip()
    return int(text) if _DECIMAL.fullmatch(text) else None


# -- Proxmox's property formats --------------------------------------------------------------------------------

_SIZE = re.compile(r"(\+?)([0-9]{1,15})(?:\.([0-9]{1,9}))?([KMGT]?)")
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def disk_size(value: object, name: str, *, maximum: int) -> tuple[bool, int]:
    """Proxmox's disk-size (``+2G``, ``10G``, ``512M``, ``1.5T``; no unit: bytes) as (relative, bytes), the
    number of bytes within ``maximum``; InvalidRequest otherwise."""
    text = str(value).strip()
    match = _SIZE.fullmatch(text)
    if match is None:
        raise InvalidRequest(f"{name}: a size such as 10G, +2G or 512M is needed, not {text[:40]!r}")
    plus, whole, fraction, unit = match.groups()
    scale = _SIZE_UNITS[unit]
    size = int(whole) * scale + (int(fraction) * scale // 10 ** len(fraction) if fraction else 0)
    if size > maximum:
        raise InvalidRequest(f"{name}: at most {maximum // 1024**3} GiB, not {text}")
    return bool(plus), size


_STARTUP_PART = re.compile(r"(?:(order|up|down)=)?([0-9]{1,9})")


def startup_spec(value: object, name: str = "startup") -> dict[str, int]:
    """Proxmox's pve-startup-order, ``[[order=]N][,up=N][,down=N]``, as {"order": N, "up": N, "down": N} (the
    parts given); InvalidRequest otherwise. An empty string is no startup spec at all: {}."""
    text = str(value).strip()
    spec: dict[str, int] = {}
    for index, part in enumerate(p.strip() for p in text.split(",")) if text else ():
        match = _STARTUP_PART.fullmatch(part)
        if match is None or (match.group(1) is None and index > 0):
            raise InvalidRequest(f"{name}: the format is [order=]N[,up=N][,down=N], not {text[:60]!r}")
        key = match.group(1) or "order"
        if key in spec:
            raise InvalidRequest(f"{name}: '{key}' is given twice")
        spec[key] = int(match.group(2))
    return spec


def format_startup(order: int | None, up: int | None, down: int | None) -> str:
    """The text of a startup spec, as Proxmox prints it (``order=1,up=30,down=60``); empty when nothing is set."""
    parts = [f"{key}={number}" for key, number in (("order", order), ("up", up), ("down", down)) if number is not None]
    return ",".join(parts)


_TAG = re.compile(r"[a-z0-9_][a-z0-9_\-+.]*", re.IGNORECASE)
MAX_TAGS_LENGTH = 255  # the column's width


def tag_list(value: object, name: str = "tags") -> list[str]:
    """Proxmox's pve-tag-list: tags separated by ';', ',' or spaces, each of letters, digits and ``_-+.``
    (not starting with ``-+.``), kept once each in their first order; InvalidRequest otherwise."""
    tags: list[str] = []
    for tag in re.split(r"[;, ]+", str(value).strip()):
        if not tag:
            continue
        if not _TAG.fullmatch(tag):
            raise InvalidRequest(f"{name}: '{tag[:40]}' is not a tag (letters, digits, '_', '-', '+', '.')")
        if tag.lower() not in (t.lower() for t in tags):
            tags.append(tag)
    if len(";".join(tags)) > MAX_TAGS_LENGTH:
        raise InvalidRequest(f"{name}: at most {MAX_TAGS_LENGTH} characters in all")
    return tags


def boolean(value: object, name: str) -> bool:
    """Proxmox's booleans: 1/0, yes/no, on/off, true/false; InvalidRequest otherwise."""
    text = str(value).strip().lower()
    if text in ("1", "yes", "on", "true"):
        return True
    if text in ("0", "no", "off", "false"):
        return False
    raise InvalidRequest(f"{name}: 0 or 1 is needed, not {text[:40]!r}")
