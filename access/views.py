"""Pages to manage users, groups, roles, ACL entries, pools, one's API tokens, and to read the audit log.

Who may use them is decided in access.permissions (can_manage): Permissions.Modify on / for ACL entries and
roles, User.Modify for users and groups, Pool.Allocate for pools, Sys.Audit for the audit log.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse_lazy
from django.views.generic import CreateView, DeleteView, ListView, TemplateView, UpdateView

from panel.views import PanelPageMixin

from . import audit, permissions
from .forms import AclEntryForm, ApiTokenForm, GroupForm, PoolForm, RoleForm, UserForm
from .models import AclEntry, ApiToken, AuditEntry, Pool, Role


class ManageMixin(PanelPageMixin):
    """Checks the privilege of the page; lists, forms and deletions share two templates."""

    manage = ""
    title = ""
    columns: list[tuple[str, str]] = []
    url_prefix = ""

    def dispatch(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if request.user.is_authenticated and not permissions.can_manage(request.user, self.manage):
            raise PermissionDenied("you may not manage " + self.manage)
        return super().dispatch(request, *args, **kwargs)

    def get_success_url(self) -> str:
        return reverse_lazy(f"{self.url_prefix}_list")

    def get_context_data(self, **kwargs: object) -> dict:
        return super().get_context_data(title=self.title, columns=self.columns, url_prefix=self.url_prefix,
                                        editable=self.editable, **kwargs)

    editable = True

    def form_valid(self, form):
        response = super().form_valid(form)
        audit.record(self.request.user, f"{self.url_prefix}.{'update' if 'pk' in self.kwargs else 'create'}",
                     self.object)
        permissions.invalidate(self.request.user)
        messages.success(self.request, f"saved {self.object}")
        return response

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


class ManageDelete(ManageMixin, DeleteView):
    template_name = "access/confirm_delete.html"

    def form_valid(self, form):
        name = str(self.object)
        response = DeleteView.form_valid(self, form)
        audit.record(self.request.user, f"{self.url_prefix}.delete", name)
        messages.success(self.request, f"deleted {name}")
        return response


class AccessIndexView(PanelPageMixin, TemplateView):
    template_name = "access/index.html"

    def get_context_data(self, **kwargs: object) -> dict:
        user = self.request.user
        return super().get_context_data(
            can={what: permissions.can_manage(user, what) for what in ("acl", "roles", "users", "groups",
                                                                         "pools", "audit")}, **kwargs)


def _section(model, form, manage: str, prefix: str, title: str, columns, queryset=None, editable=True):
    base = {"manage": manage, "url_prefix": prefix, "title": title, "columns": columns, "model": model,
            "editable": editable}
    listing = type(f"{prefix}List", (ManageMixin, ListView), {
        **base, "template_name": "access/list.html", "paginate_by": 100,
        "get_queryset": lambda self: queryset() if queryset else model.objects.order_by("pk")})
    create = type(f"{prefix}Create", (ManageMixin, CreateView), {
        **base, "form_class": form, "template_name": "access/form.html"})
    update = type(f"{prefix}Update", (ManageMixin, UpdateView), {
        **base, "form_class": form, "template_name": "access/form.html"})
    delete = type(f"{prefix}Delete", (ManageDelete,), {**base})
    return listing, create, update, delete


UserList, UserCreate, UserUpdate, UserDelete = _section(
    get_user_model(), UserForm, "users", "user", "Users",
    [("username", "User name"), ("email", "E-mail"), ("is_active", "Active"), ("is_superuser", "root")])
GroupList, GroupCreate, GroupUpdate, GroupDelete = _section(
    Group, GroupForm, "groups", "group", "Groups", [("name", "Name")])
RoleList, RoleCreate, RoleUpdate, RoleDelete = _section(
    Role, RoleForm, "roles", "role", "Roles", [("name", "Name"), ("privileges", "Privileges"),
                                                ("builtin", "Built-in")])
AclList, AclCreate, AclUpdate, AclDelete = _section(
    AclEntry, AclEntryForm, "acl", "acl", "Permissions (ACL entries)",
    [("path", "Path"), ("subject", "User / group / token"), ("role", "Role"), ("propagate", "Propagate")],
    queryset=lambda: AclEntry.objects.select_related("user", "group", "token__user", "role"))
PoolList, PoolCreate, PoolUpdate, PoolDelete = _section(
    Pool, PoolForm, "pools", "pool", "Pools",
    [("name", "Name"), ("comment", "Comment"), ("max_guests", "Max guests"), ("max_vcpus", "Max vCPUs"),
     ("max_memory_mib", "Max memory (MiB)"), ("max_disk_gib", "Max disk (GiB)")])


def _builtin_is_read_only(view):
    def get_object(self, queryset=None):
        role = super(view, self).get_object(queryset)
        if role.builtin:
            raise PermissionDenied("built-in roles cannot be changed")
        return role
    view.get_object = get_object
    return view


_builtin_is_read_only(RoleUpdate)
_builtin_is_read_only(RoleDelete)


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
        if ApiToken.objects.filter(user=self.request.user, tokenid=form.cleaned_data["tokenid"]).exists():
            form.add_error("tokenid", "you already have a token with this id")
            return self.render_to_response(self.get_context_data(form=form), status=400)
        token = form.save(commit=False)
        token.user = self.request.user
        secret = token.set_new_secret()
        token.save()
        audit.record(self.request.user, "token.create", token.full_id)
        # The secret is shown this once; only its hash is kept.
        return render(self.request, "access/token_secret.html", {"token": token, "secret": secret})


class TokenDeleteView(PanelPageMixin, DeleteView):
    template_name = "access/confirm_delete.html"
    success_url = reverse_lazy("token_list")

    def get_queryset(self):
        return ApiToken.objects.filter(user=self.request.user)

    def form_valid(self, form):
        name = self.object.full_id
        response = super().form_valid(form)
        audit.record(self.request.user, "token.delete", name)
        return response
