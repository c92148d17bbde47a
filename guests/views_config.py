"""A guest's Hardware and Options tabs and its notes: forms over guests.config, the service the API calls."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from access.audit import denials
from panel.errors import Forbidden, Refused
from panel.views import PanelPageMixin

from .config import ParameterErrors, may_configure, may_resize, pending_entries, request_config, request_resize
from .config_forms import ConfigForm, HardwareForm, NotesForm, OptionsForm
from .models import Guest
from .views import visible_guest_or_404


class GuestConfigTabView(PanelPageMixin, View):
    """GET shows the tab (its settings with their pending changes, marked); POST changes what was changed."""

    form_class: type[ConfigForm] = ConfigForm
    tab = ""
    title = ""

    def get(self, request: HttpRequest, vmid: int) -> HttpResponse:
        guest = visible_guest_or_404(request, vmid)
        return self.page(request, guest, self.form_class(guest=guest, user=request.user))

    def post(self, request: HttpRequest, vmid: int) -> HttpResponse:
        guest = visible_guest_or_404(request, vmid)
        if not (may_configure(request.user, guest) or may_resize(request.user, guest)):
            with denials(request.user, "guest.config", guest):
                raise Forbidden(f"you may not change {guest}")
        form = self.form_class(request.POST, guest=guest, user=request.user)
        if not form.is_valid():
            return self.page(request, guest, form, status=400)
        values, deletions = form.changes()
        resize = getattr(form, "cleaned_data", {}).get("disk_gib") if "disk_gib" in form.changed_data else None
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
                form.add_error(form.field_of(key) if form.field_of(key) in form.fields else None, message)
            return self.page(request, guest, form, status=400)
        except Refused as exc:
            form.add_error(None, exc.message)
            return self.page(request, guest, form, status=400)
        if task is not None:
            messages.success(request, f"the change of {guest} is applied by task {task.upid}")
            return redirect(task)
        messages.success(request, f"{guest} changed")
        return redirect(self.back(guest))

    def back(self, guest: Guest) -> str:
        return f"{guest.get_absolute_url()}{self.tab}/"

    def page(self, request: HttpRequest, guest: Guest, form: ConfigForm, status: int = 200) -> HttpResponse:
        return render(request, "guests/guest_config.html", {
            "guest": guest, "form": form, "tab": self.tab, "title": self.title,
            "tab_template": f"guests/tabs/{self.tab}.html", "pending": pending_entries(guest),
            "can_edit": may_configure(request.user, guest) or may_resize(request.user, guest),
            "current_resource": guest.resource_id,
        }, status=status)


class GuestHardwareView(GuestConfigTabView):
    form_class = HardwareForm
    tab = "hardware"
    title = "Hardware"


class GuestOptionsView(GuestConfigTabView):
    form_class = OptionsForm
    tab = "options"
    title = "Options"


class GuestNotesView(GuestConfigTabView):
    """POST only: the notes of the guest's Summary."""

    form_class = NotesForm
    tab = "notes"
    http_method_names = ["post", "options"]

    def back(self, guest: Guest) -> str:
        return guest.get_absolute_url()
