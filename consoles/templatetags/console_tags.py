"""``{% console_link guest %}`` and ``{% console_link node %}``: the ways to the consoles (a VM's serial line
and its display, a container's shell, a node's shell), for who may use them."""

from django import template
from django.urls import reverse

from guests.choices import GuestKind
from guests.models import Guest

from .. import services

register = template.Library()


@register.inclusion_tag("consoles/console_link.html", takes_context=True)
def console_link(context: template.Context, subject: object) -> dict:
    user = context["request"].user
    if isinstance(subject, Guest):
        if not services.may_use_console(user, subject):
            return {"links": []}
        links = [(reverse("guest_console", args=[subject.vmid]), "Console", "console")]
        if subject.kind == GuestKind.VM:
            links.append((reverse("guest_display", args=[subject.vmid]), "Display", "display"))
        return {"links": links}
    allowed = services.may_use_shell(user, subject)
    return {"links": [(reverse("node_shell", args=[subject.name]), "Shell", "shell")] if allowed else []}
