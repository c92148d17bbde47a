"""How Proxmox's API authenticates a request (pve-http-server's AnyEvent.pm, pve-manager's HTTPServer.pm):

- a ticket from POST /access/ticket, in the ``PVEAuthCookie`` cookie (or an ``Authorization: PVEAuthCookie=...``
  header); a write with a ticket needs the ``CSRFPreventionToken`` header too;
- an API token, ``Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`` (or with a space after
  ``PVEAPIToken``), for which no CSRF token is asked.

A cookie ticket is preferred, then a ticket header, then a token, as in Proxmox; whatever is given must be
valid (a bad ticket is not rescued by a token). A refusal is a 401 whose reason is the status line.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from django.contrib.auth import get_user_model
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from access import audit, throttle, tickets
from access.identity import TOKEN_FULL_ID, username_of
from access.models import ApiToken, AuditEntry

COOKIE = "PVEAuthCookie"
TOKEN = "PVEAPIToken"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
FAILED = "Authentication failed!"  # Proxmox's words; the reason goes to the audit log, not to the client


def auth_value(header: str, key: str) -> str | None:
    """Proxmox's extract_auth_value: ``KEY=value`` or ``KEY value`` at the start or after a blank, up to ';'."""
    match = re.search(rf"(?:^|\s){re.escape(key)}(?:=| )([^;]*)", header or "")
    return unquote(match.group(1)) if match and match.group(1) else None


class ProxmoxAuthentication(BaseAuthentication):
    def authenticate_header(self, request: Request) -> str:
        """A refused request is a 401, as in Proxmox (DRF answers 403 without this)."""
        return TOKEN

    def authenticate(self, request: Request):
        header = get_authorization_header(request).decode(errors="replace")
        ticket = auth_value(request.META.get("HTTP_COOKIE", ""), COOKIE) or auth_value(header, COOKIE)
        if ticket:
            return self._ticket(request, ticket)
        token = auth_value(header, TOKEN)
        if token:
            return self._token(request, token.strip())
        return None

    def _ticket(self, request: Request, ticket: str):
        userid = tickets.ticket_user(ticket)
        user = None
        if userid is not None:
            try:
                user = get_user_model().objects.filter(username=username_of(userid), is_active=True).first()
            except ValueError:
                user = None
        if user is None:
            raise AuthenticationFailed(FAILED)
        if request.method not in SAFE_METHODS and not tickets.csrf_token_valid(
                userid, request.META.get("HTTP_CSRFPREVENTIONTOKEN", "")):
            raise AuthenticationFailed("Permission denied - invalid csrf token")
        return user, ticket

    def _token(self, request: Request, value: str):
        full_id, _, secret = value.rpartition("=")
        match = TOKEN_FULL_ID.match(full_id)
        if match is None or not secret:
            raise AuthenticationFailed(f"{FAILED} (an API token is {TOKEN}=USER@REALM!TOKENID=SECRET)")
        address = throttle.client_address(request)
        refused = throttle.refusal(full_id, address)
        if refused is not None:
            audit.record(None, "api.token", full_id, AuditEntry.Result.DENIED, f"throttled: {refused.reason}",
                         username=full_id, address=address)
            raise AuthenticationFailed(f"{refused.reason}: try again in {refused.retry_after} s")
        name, realm, tokenid = match.groups()
        token = (ApiToken.objects.select_related("user")
                 .filter(user__username=username_of(f"{name}@{realm}"), tokenid=tokenid).first())
        if token is None or not token.check_secret(secret) or not token.user.is_active:
            audit.record(None, "api.token", full_id, AuditEntry.Result.FAILED, "invalid API token",
                         username=full_id, address=address)
            raise AuthenticationFailed(FAILED)
        if token.expired:
            audit.record(None, "api.token", full_id, AuditEntry.Result.FAILED, "expired API token",
                         username=full_id, address=address)
            raise AuthenticationFailed(f"token '{tokenid}' access expired")
        user = get_user_model().objects.get(pk=token.user_id)  # a fresh object: the token rides on it
        user.panel_api_token = token
        return user, token
