"""Proxmox's API token header: ``Authorization: PVEAPIToken=USER@pam!TOKENID=SECRET``."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from access import audit, throttle
from access.models import ApiToken, AuditEntry

PREFIX = "PVEAPIToken="


class ApiTokenAuthentication(BaseAuthentication):
    def authenticate_header(self, request: Request) -> str:
        """A refused token is a 401, as in Proxmox (DRF answers 403 without this)."""
        return "PVEAPIToken"

    def authenticate(self, request: Request):
        header = get_authorization_header(request).decode(errors="replace")
        if not header.startswith(PREFIX):
            return None
        value = header[len(PREFIX):].strip()
        try:
            full_id, secret = value.rsplit("=", 1)
            user_part, tokenid = full_id.split("!", 1)
            username, realm = user_part.rsplit("@", 1)
        except ValueError:
            raise AuthenticationFailed("malformed API token: PVEAPIToken=USER@pam!TOKENID=SECRET") from None
        address = throttle.client_address(request)
        refused = throttle.refusal(full_id, address)
        if refused is not None:
            audit.record(None, "api.token", full_id, AuditEntry.Result.DENIED, f"throttled: {refused.reason}",
                         username=full_id, address=address)
            raise AuthenticationFailed(f"{refused.reason}: try again in {refused.retry_after} s")
        token = (ApiToken.objects.select_related("user")
                 .filter(user__username=username, tokenid=tokenid).first() if realm == "pam" else None)
        if token is None or not token.check_secret(secret) or not token.user.is_active:
            audit.record(None, "api.token", full_id, AuditEntry.Result.FAILED, "invalid API token",
                         username=full_id, address=address)
            raise AuthenticationFailed("invalid API token")
        if token.expired:
            audit.record(None, "api.token", full_id, AuditEntry.Result.FAILED, "expired API token",
                         username=full_id, address=address)
            raise AuthenticationFailed("API token expired")
        user = get_user_model().objects.get(pk=token.user_id)  # a fresh object: the token rides on it
        user.panel_api_token = token
        return user, token
