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
