import re

from django.conf import settings
from django.core.exceptions import ValidationError

from drivers.limits import BRIDGE_NAME, GUEST_NAME  # a guest name: a host name, as Proxmox's, that both engines take

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)


def validate_dns_label(value: str) -> None:
    if not DNS_LABEL.match(value):
        raise ValidationError(
            "'%(value)s' is not a valid name: use letters, digits and '-', starting and ending with a "
            "letter or digit, at most 63 characters",
            params={"value": value},
            code="invalid_name",
        )


def validate_bridge_name(value: str) -> None:
    if value and not BRIDGE_NAME.match(value):
        raise ValidationError("'%(value)s' is not a valid bridge name: 1 to 15 letters, digits, '.', '_' or '-'",
                              params={"value": value}, code="invalid_bridge")


GUEST_NAME_MAX = 63


def validate_guest_name(value: str) -> None:
    if len(value) > GUEST_NAME_MAX:  # said as such: the whole name echoed back would hide the reason
        raise ValidationError("a guest name has at most %(max)d characters; this one has %(length)d",
                              params={"max": GUEST_NAME_MAX, "length": len(value)}, code="name_too_long")
    if not GUEST_NAME.match(value):
        raise ValidationError(
            "'%(value)s' is not a valid guest name: use a host name (letters, digits, '-' and '.', "
            "starting and ending with a letter or digit, at most 63 characters)",
            params={"value": value},
            code="invalid_name",
        )
    prefix = settings.PANEL_GUEST_NAME_PREFIX
    if not value.startswith(prefix):  # its poll would not see it, and would forget it
        raise ValidationError("guest names on this panel start with '%(prefix)s'", params={"prefix": prefix},
                              code="invalid_name")
