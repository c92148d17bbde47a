"""Logins and failed logins go to the audit log."""

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from . import audit


@receiver(user_logged_in)
def logged_in(sender: object, request: object, user: object, **kwargs: object) -> None:
    audit.record(user, "login", f"{user.get_username()}@pam",
                 address=audit.client_address(request) if request is not None else None)


@receiver(user_login_failed)
def login_failed(sender: object, credentials: dict, request: object = None, **kwargs: object) -> None:
    username = str(credentials.get("username", ""))[:150]
    audit.record(None, "login", f"{username}@pam", audit.AuditEntry.Result.FAILED, "wrong user name or password",
                 username=f"{username}@pam",
                 address=audit.client_address(request) if request is not None else None)
