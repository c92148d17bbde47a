"""A guest's Hardware and Options tabs and the notes of its Summary: forms over guests.config, the service the API
calls. The tabs are drawn by the guest's page (guests/tabs.py); their forms post here."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from access.audit import denials
from panel.errors import Forbidden, Refused

from .config import ParameterErrors, may_configure, may_resize, pending_entries, request_config, request_resize
from .config_forms import ConfigForm, HardwareForm, NotesForm, OptionsForm
from .models import Guest
from .views import GuestDetailView


def _tab(request: HttpRequest, guest: Guest, form_class: type[ConfigForm]) -> dict:
    return {"form": form_class(guest=guest, user=request.user), "pending": pending_entries(guest),
            "can_edit": may_configure(request.user, guest) or may_resize(request.user, guest)}


def hardware_tab(request: HttpRequest, guest: Guest) -> dict:
    return _tab(request, guest, HardwareForm)


def options_tab(request: HttpRequest, guest: Guest) -> dict:
    return _tab(request, guest, OptionsForm)


class GuestConfigPostView(GuestDetailView):
    """POST changes what the form changed, through request_config (and request_resize for a VM's disk); the tab
    is drawn again with the form's errors, or it is on to the task that applies the change, or back to the tab."""

    http_method_names = ["post", "options"]
    form_class: type[ConfigForm] = ConfigForm
    tab = ""

    def post(self, request: HttpRequest, vmid: int) -> HttpResponse:
        self.kwargs["tab"] = self.tab
        guest = self.object
        if not (may_configure(request.user, guest) or may_resize(request.user, guest)):
            with denials(request.user, "guest.config", guest):
                raise Forbidden(f"you may not change {guest}")
        form = self.form_class(request.POST, guest=guest, user=request.user)
        if not form.is_valid():
            return self.again(form)
        values, deletions = form.changes()
        resize = form.cleaned_data.get("disk_gib") if "disk_gib" in form.changed_data else None
        if not (values or deletions or resize):
            messages.info(request, "nothing was changed")
            return redirect(self.back(guest))
        try:
            task = None
            if values or deletions:
                task = request_config(request.user, guest, values, delete=",".join(deletions),
                                      given_digest=form.cleaned_data.get("digest") or None)
            if resize:
                guest.refresh_from_db()
                task = request_resize(request.user, guest, "virtio0", f"{resize}G")
        except ParameterErrors as exc:
            for key, message in exc.errors.items():
                field = form.field_of(key)
                form.add_error(field if field in form.fields else None, message)
            return self.again(form)
        except Refused as exc:
            form.add_error(None, exc.message)
            return self.again(form)
        if task is not None:
            messages.success(request, f"the change of {guest} is applied by task {task.upid}")
            return redirect(task)
        messages.success(request, f"{guest} changed")
        return redirect(self.back(guest))

    def again(self, form: ConfigForm) -> HttpResponse:
        return self.render_to_response(self.get_context_data(form=form), status=400)

    def back(self, guest: Guest) -> str:
        return reverse("guest_tab", args=[guest.vmid, self.tab])


class GuestHardwareView(GuestConfigPostView):
    form_class = HardwareForm
    tab = "hardware"


class GuestOptionsView(GuestConfigPostView):
    form_class = OptionsForm
    tab = "options"


class GuestNotesView(GuestConfigPostView):
    """The notes of the guest's Summary; drawn again there with the form's errors."""

    form_class = NotesForm
    tab = "summary"

    def back(self, guest: Guest) -> str:
        return guest.get_absolute_url()

    def get_context_data(self, **kwargs: object) -> dict:
        return super().get_context_data(notes_form=kwargs.pop("form", None), **kwargs)
