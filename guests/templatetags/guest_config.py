"""The guest page's part of its settings: links to the Hardware and Options tabs and the editable notes."""

from __future__ import annotations

from django import template

from ..config import guest_config, may_change
from ..config_forms import NotesForm
from ..models import Guest

register = template.Library()


@register.inclusion_tag("guests/tabs/summary_config.html", takes_context=True)
def guest_config_panel(context: template.Context, guest: Guest) -> dict:
    user = context["request"].user
    return {
        "guest": guest,
        "notes": guest_config(guest).get("description", ""),
        "pending_notes": "description" in guest.pending,
        "form": NotesForm(guest=guest, user=user) if may_change(user, guest, "description") else None,
        "csrf_token": context.get("csrf_token"),
    }
