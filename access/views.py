"""Pages to manage users, groups, roles, ACL entries, pools, one's API tokens, and to read the audit log.

Forms validate the input; access.services checks, makes and audits every change (who may use each page is
``services.MANAGE``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse_lazy
from django.views.generic import CreateView, DeleteView, ListView, TemplateView, UpdateView

from panel.errors import Refused
from panel.views import SAFE_METHODS, PanelPageMixin

from . import audit, services
from .forms import AclEntryForm, ApiTokenForm, GroupForm, PoolForm, RoleForm, UserForm
from .models import AclEntry, ApiToken, AuditEntry, Pool, Role

User = get_user_model()


class ManageMixin(PanelPageMixin):
    """A management page: its privilege checked by the service; lists and forms share two templates."""

    manage = ""
    title = ""
    columns: list[tuple[str, str]] = []
    url_prefix = ""
    editable = True
    # The edited object must never hide the logged-in user of the page's header ("user" in templates).
    context_object_name = "object"

    audit_action = ""  # the service's action, for a change the page refuses before calling it

    def dispatch(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if request.user.is_authenticated:
            changing = self.audit_action and request.method not in SAFE_METHODS
            with audit.denials(request.user, self.audit_action, request.path) if changing else nullcontext():
                services.check_may_manage(request.user, self.manage)
        return super().dispatch(request, *args, **kwargs)

    def get_success_url(self) -> str:
        return reverse_lazy(f"{self.url_prefix}_list")

    def get_context_data(self, **kwargs: object) -> dict:
        return super().get_context_data(title=self.title, columns=self.columns, url_prefix=self.url_prefix,
                                        editable=self.editable, **kwargs)


class ManageForm(ManageMixin):
    """Create and update: the form's cleaned data goes to ``save(actor, object or None, **data)``."""

    template_name = "access/form.html"
    save: Callable[..., Model]

    def form_valid(self, form) -> HttpResponse:
        instance = None if form.instance.pk is None else type(form.instance).objects.get(pk=form.instance.pk)
        try:
            self.object = type(self).save(self.request.user, instance, **self.data_of(form))
        except Refused as exc:
            form.add_error(None, exc.message)
            return self.form_invalid(form)
        messages.success(self.request, f"saved {self.object}")
        return HttpResponseRedirect(self.get_success_url())

    def form_invalid(self, form) -> HttpResponse:
        return self.render_to_response(self.get_context_data(form=form), status=400)

    def data_of(self, form) -> dict:
        return dict(form.cleaned_data)


class ManageDelete(ManageMixin, DeleteView):
    template_name = "access/confirm_delete.html"
    remove: Callable[..., None]  # the service (not ``delete``: that is DeleteView's handler of HTTP DELETE)

    def form_valid(self, form) -> HttpResponse:
        name = str(self.object)
        try:
            type(self).remove(self.request.user, self.object)
        except Refused as exc:
            messages.error(self.request, exc.message)
            return HttpResponseRedirect(self.get_success_url())
        messages.success(self.request, f"deleted {name}")
        return HttpResponseRedirect(self.get_success_url())


class AccessIndexView(PanelPageMixin, TemplateView):
    template_name = "access/index.html"

    def get_context_data(self, **kwargs: object) -> dict:
        can = {what: services.may_manage(self.request.user, what) for what in services.MANAGE}
        return super().get_context_data(can=can, **kwargs)


def _section(model, form, manage: str, prefix: str, title: str, columns, save, delete, queryset=None,
             data_of=None):
    base = {"manage": manage, "url_prefix": prefix, "title": title, "columns": columns, "model": model}
    listing = type(f"{prefix}List", (ManageMixin, ListView), {
        **base, "template_name": "access/list.html", "paginate_by": 100,
        "get_queryset": lambda self: queryset() if queryset else model.objects.order_by("pk")})
    extra = {"save": staticmethod(save), "form_class": form, **({"data_of": data_of} if data_of else {})}
    create = type(f"{prefix}Create", (ManageForm, CreateView), {**base, **extra, "audit_action": f"{prefix}.create"})
    update = type(f"{prefix}Update", (ManageForm, UpdateView), {**base, **extra, "audit_action": f"{prefix}.update"})
    remove = type(f"{prefix}Delete", (ManageDelete,), {**base, "remove": staticmethod(delete),
                                                       "audit_action": f"{prefix}.delete"})
    return listing, create, update, remove


def _user_data(self, form) -> dict:
    data = dict(form.cleaned_data)
    data["groups"] = list(data.get("groups") or [])
    return data


UserList, UserCreate, UserUpdate, UserDelete = _section(
    User, UserForm, "users", "user", "Users",
    [("username", "User name"), ("email", "E-mail"), ("is_active", "Active"), ("is_superuser", "root")],
    services.save_user, services.delete_user, data_of=_user_data)
GroupList, GroupCreate, GroupUpdate, GroupDelete = _section(
    Group, GroupForm, "groups", "group", "Groups", [("name", "Name")], services.save_group, services.delete_group)
RoleList, RoleCreate, RoleUpdate, RoleDelete = _section(
    Role, RoleForm, "roles", "role", "Roles", [("name", "Name"), ("privileges", "Privileges"),
                                                ("builtin", "Built-in")], services.save_role, services.delete_role)
AclList, AclCreate, AclUpdate, AclDelete = _section(
    AclEntry, AclEntryForm, "acl", "acl", "Permissions (ACL entries)",
    [("path", "Path"), ("subject", "User / group / token"), ("role", "Role"), ("propagate", "Propagate")],
    services.save_acl, services.delete_acl,
    queryset=lambda: AclEntry.objects.select_related("user", "group", "token__user", "role"))
PoolList, PoolCreate, PoolUpdate, PoolDelete = _section(
    Pool, PoolForm, "pools", "pool", "Pools",
    [("name", "Name"), ("comment", "Comment"), ("max_guests", "Max guests"), ("max_vcpus", "Max vCPUs"),
     ("max_memory_mib", "Max memory (MiB)"), ("max_disk_gib", "Max disk (GiB)")],
    services.save_pool, services.delete_pool)


class AuditLogView(ManageMixin, ListView):
    manage = "audit"
    title = "Audit log"
    url_prefix = "audit"
    editable = False
    template_name = "access/list.html"
    paginate_by = 100
    columns = [("at", "Time"), ("username", "User"), ("action", "Action"), ("object", "Object"),
               ("address", "Address"), ("result", "Result"), ("detail", "Detail")]
    queryset = AuditEntry.objects.all()


class TokenListView(PanelPageMixin, ListView):
    """One's own API tokens (``USER@pam!TOKENID``)."""

    template_name = "access/tokens.html"

    def get_queryset(self):
        return ApiToken.objects.filter(user=self.request.user).select_related("user")


class TokenCreateView(PanelPageMixin, CreateView):
    form_class = ApiTokenForm
    template_name = "access/form.html"
    extra_context = {"title": "API token"}

    def form_valid(self, form):
        try:
            token, secret = services.create_token(self.request.user, **form.cleaned_data)
        except Refused as exc:
            form.add_error("tokenid", exc.message)
            return self.render_to_response(self.get_context_data(form=form), status=400)
        # The secret is shown this once; only its hash is kept.
        return render(self.request, "access/token_secret.html", {"token": token, "secret": secret})


class TokenDeleteView(PanelPageMixin, DeleteView):
    template_name = "access/confirm_delete.html"
    success_url = reverse_lazy("token_list")

    def get_queryset(self):
        return ApiToken.objects.filter(user=self.request.user)

    def form_valid(self, form):
        services.delete_token(self.request.user, self.object)
        return HttpResponseRedirect(self.success_url)
