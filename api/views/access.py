"""/access: tickets, realms, users, groups, roles, ACL entries, permissions and API tokens. Every change goes
through access/services.py, which checks who may make it and that nobody gives more than they hold."""

from __future__ import annotations

from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access import tickets
from access.capabilities import capabilities
from access.identity import REALMS, userid

from ..params import text
from ..responses import data


class TicketView(APIView):
    """POST /access/ticket: username (``name@realm``), password (or a valid ticket, to renew it), optional
    realm; answers the ticket, its CSRFPreventionToken, the user id and what the user holds (``cap``)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return data(None)  # Proxmox's dummy, for clients that show a login form

    def post(self, request: Request) -> Response:
        username = text(request, "username", 64, required=True)
        password = text(request, "password", 4096, required=True)
        realm = text(request, "realm", 32) or None
        user = tickets.login(request._request, username, password, realm)
        if user is None:
            raise AuthenticationFailed("authentication failure")
        full_id = userid(user.get_username())
        return data({
            "username": full_id,
            "ticket": tickets.make_ticket(full_id),
            "CSRFPreventionToken": tickets.make_csrf_token(full_id),
            "cap": capabilities(user),
        })


class DomainsView(APIView):
    """GET /access/domains: the realms, for login forms (no login needed)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return data([{"realm": realm, "type": realm, "comment": comment} for realm, comment in REALMS.items()])
