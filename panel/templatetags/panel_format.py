"""Formatting shared by every page: binary sizes, percentages, durations, dates, tags."""

import json
import re
from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()

_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]


@register.filter
def binary_size(value: int | float | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in _UNITS:
        if abs(size) < 1024 or unit == _UNITS[-1]:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    return ""


@register.filter
def percent(value: float | None, total: float | None = None) -> str:
    """``x|percent`` for a 0..1 fraction, ``used|percent:total`` for a ratio."""
    if value is None:
        return "—"
    if total is not None:
        if not total:
            return "—"
        value = value / total
    return f"{value * 100:.1f} %"


@register.filter
def ratio(value: float | None, total: float | None) -> float:
    """0..100 for a progress bar's width."""
    if not value or not total:
        return 0
    return round(min(value / total, 1) * 100, 1)


@register.simple_tag
def rrd_timeframes() -> str:
    """The history timeframes and the seconds each shows, as JSON for static/panel/graphs.js."""
    from metrics.store import TIMEFRAMES

    return json.dumps({name: seconds for name, (_, seconds) in TIMEFRAMES.items()})


@register.filter
def duration(seconds: int | None) -> str:
    if not seconds:
        return "—"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}d {clock}" if days else clock


DATE_FORMAT = "%Y-%m-%d %H:%M:%S"  # the one format of every date on every page (format.js's date() too)


@register.filter
def when(value: datetime | str | None) -> str:
    """A moment (or its ISO text) as <time>: the server's time zone in the one format; format.js redraws it in
    the browser's."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value is None:
        return "—"
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return format_html('<time datetime="{}">{}</time>', value.isoformat(), local.strftime(DATE_FORMAT))


@register.filter
def tag_list(tags: str | None) -> list[str]:
    """A guest's tags as Proxmox keeps them (';'-separated; ',' and spaces are read too)."""
    return [tag for tag in re.split(r"[;,\s]+", tags or "") if tag]
