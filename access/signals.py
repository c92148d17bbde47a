"""Logins and failed logins go to the audit log; every change to who may do what bumps the access version."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from . import audit, throttle
from .events import access_changed
from .identity import userid
from .models import AclEntry, ApiToken, Role

User = get_user_model()


@receiver(user_logged_in)
def logged_in(sender: object, request: object, user: object, **kwargs: object) -> None:
    audit.record(user, "login", userid(user.get_username()),
                 address=throttle.client_address(request))


@receiver(user_login_failed)
def login_failed(sender: object, credentials: dict, request: object = None, **kwargs: object) -> None:
    if getattr(request, "panel_throttled", False):
        return  # refused before any password was checked; the throttle recorded it
    username = str(credentials.get("username", ""))[:150]
    audit.record(None, "login", userid(username), audit.AuditEntry.Result.FAILED, "wrong user name or password",
                 username=userid(username),
                 address=throttle.client_address(request))


@receiver([post_save, post_delete], sender=AclEntry)
@receiver([post_save, post_delete], sender=Role)
@receiver([post_save, post_delete], sender=Group)
@receiver([post_save, post_delete], sender=ApiToken)
def grants_changed(sender: type, **kwargs: object) -> None:
    access_changed()


@receiver([post_save, post_delete], sender=User)
def user_changed(sender: type, update_fields: frozenset | None = None, **kwargs: object) -> None:
    if update_fields is not None and set(update_fields) <= {"last_login", "password"}:
        return  # a login, or a password change: who may do what is the same
    access_changed()


@receiver(m2m_changed, sender=User.groups.through)
def membership_changed(sender: type, action: str, **kwargs: object) -> None:
    if action.startswith("post_"):
        access_changed()
