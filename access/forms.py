"""Forms of the access pages, and the throttled login form."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import Group

from . import throttle
from .choices import PRIVILEGE_CHOICES
from .models import AclEntry, ApiToken, Pool, Role, normalize_acl_path, validate_acl_path


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's login form, saying why when the throttle (in the authentication backend) refused."""

    def clean(self) -> dict:
        username = self.cleaned_data.get("username") or ""
        refused = throttle.refusal(username, throttle.client_address(self.request)) if username else None
        try:
            return super().clean()
        except forms.ValidationError:
            if refused is not None:
                raise forms.ValidationError(f"{refused.reason}: try again in {refused.retry_after} s",
                                            code="throttled") from None
            raise


class RoleForm(forms.ModelForm):
    privileges = forms.MultipleChoiceField(choices=PRIVILEGE_CHOICES, widget=forms.CheckboxSelectMultiple,
                                           required=False)

    class Meta:
        model = Role
        fields = ["name", "privileges"]


class AclEntryForm(forms.ModelForm):
    # Checked after it is made canonical (clean_path), as Proxmox normalises a path before checking it.
    path = forms.CharField(max_length=255, help_text="/, /vms, /vms/101, /nodes/pve1, /pool/team-a, /storage/local...")

    class Meta:
        model = AclEntry
        fields = ["path", "user", "group", "token", "role", "propagate"]

    def clean_path(self) -> str:
        path = normalize_acl_path(self.cleaned_data["path"])
        validate_acl_path(path)
        return path

    def clean(self) -> dict:
        data = super().clean()
        if sum(bool(data.get(k)) for k in ("user", "group", "token")) != 1:
            raise forms.ValidationError("choose exactly one of a user, a group or an API token")
        return data


class PoolForm(forms.ModelForm):
    class Meta:
        model = Pool
        fields = ["name", "comment", "max_guests", "max_vcpus", "max_memory_mib", "max_disk_gib"]


class UserForm(forms.ModelForm):
    password = forms.CharField(widget=forms.PasswordInput, required=False,
                               help_text="Leave empty to keep the current password.")

    class Meta:
        model = get_user_model()
        fields = ["username", "first_name", "last_name", "email", "is_active", "groups"]
        widgets = {"groups": forms.CheckboxSelectMultiple}


class GroupForm(forms.ModelForm):
    class Meta:
        model = Group
        fields = ["name"]


class ApiTokenForm(forms.ModelForm):
    expires_at = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    class Meta:
        model = ApiToken
        fields = ["tokenid", "privsep", "expires_at", "comment"]
