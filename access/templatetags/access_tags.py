from django import template

register = template.Library()


@register.filter
def field_value(obj: object, name: str) -> object:
    """``obj.<name>`` for the generic lists of the access pages; lists are joined."""
    value = getattr(obj, name, "")
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "" if value is None else value
