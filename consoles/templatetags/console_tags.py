"""``{% console_link guest %}`` and ``{% console_link node %}``: the way to the console, for who may use it."""

from django import template
from django.urls import reverse

from guests.models import Guest

from .. import services

register = template.Library()


@register.inclusion_tag("consoles/console_link.html", takes_context=True)
def console_link(context: template.Context, subject: object) -> dict:
    user = context["request"].user
    if isinstance(subject, Guest):
        allowed = services.may_use_console(user, subject)
        return {"url": reverse("guest_console", args=[subject.vmid]) if allowed else "", "label": "Console"}
    allowed = services.may_use_shell(user, subject)
    return {"url": reverse("node_shell", args=[subject.name]) if allowed else "", "label": "Shell"}
