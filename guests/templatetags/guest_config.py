"""The editable notes of a guest's Summary tab."""

from __future__ import annotations

from django import template

from ..config import may_change
from ..config_forms import NotesForm
from ..models import Guest

register = template.Library()


@register.inclusion_tag("guests/tabs/notes.html", takes_context=True)
def guest_notes_form(context: template.Context, guest: Guest) -> dict:
    """The notes' form for who may change them: the one drawn again with its errors, else a fresh one."""
    user = context["request"].user
    form = context.get("notes_form") or (NotesForm(guest=guest, user=user) if may_change(user, guest, "description")
                                         else None)
    return {"guest": guest, "form": form, "csrf_token": context.get("csrf_token")}
