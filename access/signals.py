"""Logins and failed logins go to the audit log."""

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from . import audit
from .identity import userid


@receiver(user_logged_in)
def logged_in(sender: object, request: object, user: object, **kwargs: object) -> None:
    audit.record(user, "login", userid(user.get_username()),
                 address=audit.client_address(request) if request is not None else None)


@receiver(user_login_failed)
def login_failed(sender: object, credentials: dict, request: object = None, **kwargs: object) -> None:
    username = str(credentials.get("username", ""))[:150]
    audit.record(None, "login", userid(username), audit.AuditEntry.Result.FAILED, "wrong user name or password",
                 username=userid(username),
                 address=audit.client_address(request) if request is not None else None)
