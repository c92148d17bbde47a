"""Forms of the access pages, and the throttled login form."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import Group

from . import audit
from .choices import PRIVILEGE_CHOICES
from .identity import userid
from .models import AclEntry, ApiToken, Pool, Role


class ThrottledAuthenticationForm(AuthenticationForm):
    """At most 5 failed logins per user name and address in 5 minutes; then a clear refusal."""

    def clean(self) -> dict:
        username = self.cleaned_data.get("username") or ""
        address = audit.client_address(self.request) if self.request is not None else None
        if username and audit.recent_login_failures(username, address) >= audit.LOGIN_FAILURES_ALLOWED:
            minutes = int(audit.LOGIN_FAILURE_WINDOW.total_seconds() // 60)
            audit.record(None, "login", userid(username), audit.AuditEntry.Result.DENIED,
                         "throttled", username=userid(username), address=address)
            raise forms.ValidationError(
                f"too many failed logins for {username} from this address: try again in {minutes} minutes",
                code="throttled")
        return super().clean()


class RoleForm(forms.ModelForm):
    privileges = forms.MultipleChoiceField(choices=PRIVILEGE_CHOICES, widget=forms.CheckboxSelectMultiple,
                                           required=False)

    class Meta:
        model = Role
        fields = ["name", "privileges"]


class AclEntryForm(forms.ModelForm):
    class Meta:
        model = AclEntry
        fields = ["path", "user", "group", "token", "role", "propagate"]

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

    def save(self, commit: bool = True):
        user = super().save(commit=False)
        if self.cleaned_data.get("password"):
            user.set_password(self.cleaned_data["password"])
        elif user.pk is None:
            user.set_unusable_password()
        if commit:
            user.save()
            self.save_m2m()
        return user


class GroupForm(forms.ModelForm):
    class Meta:
        model = Group
        fields = ["name"]


class ApiTokenForm(forms.ModelForm):
    expires_at = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    class Meta:
        model = ApiToken
        fields = ["tokenid", "privsep", "expires_at", "comment"]
