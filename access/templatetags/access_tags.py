from datetime import datetime

from django import template

from access.identity import userid_of
from panel.templatetags.panel_format import when

register = template.Library()


@register.filter
def userid(user: object) -> str:
    """``alice@pam`` (with ``!tokenid`` for a token)."""
    return userid_of(user)


@register.filter
def field_value(obj: object, name: str) -> object:
    """``obj.<name>`` for the generic lists of the access pages; lists are joined."""
    value = getattr(obj, name, "")
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, datetime):
        return when(value)
    return "" if value is None else value
