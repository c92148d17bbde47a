"""/access: tickets, realms, users, groups, roles, ACL entries, permissions and API tokens. Every change goes
through access/services.py, which checks who may make it and that nobody gives more than they hold."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.exceptions import AuthenticationFailed, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access import permissions, tickets
from access.capabilities import capabilities
from access.choices import BUILTIN_ROLES, PRIVILEGES
from access.directory import (
    acl_visible_to,
    group_named,
    groups_visible_to,
    permissions_of,
    user_named,
    users_visible_to,
)
from access.identity import REALMS, TOKEN_FULL_ID, username_of
from access.identity import userid as userid_of_name
from access.models import AclEntry, ApiToken, Role, builtin_role, normalize_acl_path
from access.services import (
    create_token,
    delete_acl,
    delete_group,
    delete_role,
    delete_token,
    delete_user,
    save_acl,
    save_group,
    save_role,
    save_user,
    update_token,
)
from panel.errors import NotFound

from ..params import flag, optional_number, params_of, text
from ..responses import data
from ..schema import BOOLEAN, INTEGER, STRING, arr, doc, obj, param

USER = obj(
    ("userid",),
    userid=STRING,
    enable=BOOLEAN,
    expire=INTEGER,
    firstname=STRING,
    lastname=STRING,
    email=STRING,
    groups=STRING,
    realm__type=STRING,
    tokens=arr({"type": "object"}),
)
TOKEN = obj(comment=STRING, privsep=BOOLEAN, expire=INTEGER)
TOKEN_CHANGE = obj(comment=STRING, privsep=BOOLEAN, expire={"type": "integer", "minimum": 0})

GROUP_ID = re.compile(r"^[A-Za-z0-9.\-_]{1,150}$")
ROLE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9.\-_]{0,63}$")


class TicketView(APIView):
    """POST /access/ticket: username (``name@realm``), password (or a valid ticket, to renew it), optional
    realm; answers the ticket, its CSRFPreventionToken, the user id and what the user holds (``cap``)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @doc("Proxmox's dummy for login forms", None, auth=False)
    def get(self, request: Request) -> Response:
        return data(None)  # Proxmox's dummy, for clients that show a login form

    @doc(
        "Log in: a ticket and its CSRFPreventionToken",
        obj(
            ("username", "ticket", "CSRFPreventionToken"),
            username=STRING,
            ticket=STRING,
            CSRFPreventionToken=STRING,
            cap={"type": "object"},
        ),
        body=obj(
            ("username", "password"), username=STRING, password=STRING, realm={"type": "string", "enum": ["pam", "pve"]}
        ),
        auth=False,
    )
    def post(self, request: Request) -> Response:
        username = text(request, "username", 64, required=True)
        password = text(request, "password", 4096, required=True)
        realm = text(request, "realm", 32) or None
        user = tickets.login(request._request, username, password, realm)
        if user is None:
            if getattr(request._request, "panel_throttled", False):  # set by the throttled backend
                raise AuthenticationFailed("authentication failure (too many failed logins: try again later)")
            raise AuthenticationFailed("authentication failure")  # Proxmox's words, whatever was wrong
        full_id = userid_of_name(user.get_username())
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

    @doc("The realms", arr(obj(("realm", "type"), realm=STRING, type=STRING, comment=STRING)), auth=False)
    def get(self, request: Request) -> Response:
        return data([{"realm": realm, "type": realm, "comment": comment} for realm, comment in REALMS.items()])


# -- users ---------------------------------------------------------------------------------------------------

def _user_entry(user, full: bool = False) -> dict:
    entry = {"userid": userid_of_name(user.get_username()), "enable": int(user.is_active), "expire": 0,
             "firstname": user.first_name, "lastname": user.last_name, "email": user.email,
             "groups": ",".join(sorted(g.name for g in user.groups.all())),
             "realm-type": userid_of_name(user.get_username()).rsplit("@", 1)[1]}
    if full:
        entry["tokens"] = [_token_entry(t) | {"tokenid": t.tokenid} for t in user.api_tokens.all()]
    return entry


def _groups(request: Request, name: str = "groups") -> list[Group] | None:
    value = params_of(request).get(name)
    if value is None:
        return None
    names = [g for g in re.split(r"[,;\s]+", str(value)) if g]
    found = {g.name: g for g in Group.objects.filter(name__in=names)}
    missing = [g for g in names if g not in found]
    if missing:
        raise ValidationError({name: f"no such group '{missing[0][:64]}'"})
    return [found[g] for g in names]


def _userid(value: str, name: str = "userid") -> str:
    try:
        return username_of(value)
    except ValueError as exc:
        raise ValidationError({name: str(exc)}) from None


class UsersView(APIView):
    @doc("The users the user may read", arr(USER), query=(param("enabled", BOOLEAN), param("full", BOOLEAN)))
    def get(self, request: Request) -> Response:
        """The users the actor may read (always oneself); ``enabled`` filters, ``full`` adds their tokens."""
        full = flag(request, "full")
        users = users_visible_to(request.user)
        if "enabled" in request.query_params:
            enabled = flag(request, "enabled")
            users = [u for u in users if u.is_active == enabled]
        return data([_user_entry(u, full) for u in users])

    @doc(
        "Create a user",
        None,
        body=obj(
            ("userid",),
            userid=STRING,
            password=STRING,
            email=STRING,
            firstname=STRING,
            lastname=STRING,
            groups=STRING,
            enable=BOOLEAN,
        ),
    )
    def post(self, request: Request) -> Response:
        name = _userid(text(request, "userid", 64, required=True))
        save_user(request.user, None, username=name, groups=_groups(request) or [],
                  password=text(request, "password", 64), email=text(request, "email", 254),
                  first_name=text(request, "firstname", 150), last_name=text(request, "lastname", 150),
                  is_active=flag(request, "enable", default=True))
        return data(None)


class UserView(APIView):
    @doc(
        "A user",
        obj(
            enable=BOOLEAN,
            email=STRING,
            firstname=STRING,
            lastname=STRING,
            groups=arr(STRING),
            tokens={"type": "object"},
        ),
    )
    def get(self, request: Request, userid: str) -> Response:
        user = user_named(request.user, userid)
        entry = _user_entry(user)
        entry["groups"] = entry["groups"].split(",") if entry["groups"] else []
        entry["tokens"] = {t.tokenid: _token_entry(t) for t in user.api_tokens.all()}
        return data(entry)

    @doc(
        "Change a user",
        None,
        body=obj(email=STRING, firstname=STRING, lastname=STRING, groups=STRING, append=BOOLEAN, enable=BOOLEAN),
    )
    def put(self, request: Request, userid: str) -> Response:
        """email, firstname, lastname, enable, groups (replaced; added to with ``append=1``)."""
        user = user_named(request.user, userid)
        groups = _groups(request)
        current = list(user.groups.all())
        if groups is None:
            groups = current
        elif flag(request, "append"):
            groups = current + [g for g in groups if g not in current]
        save_user(request.user, user, username=user.get_username(), groups=groups,
                  email=text(request, "email", 254, default=user.email),
                  first_name=text(request, "firstname", 150, default=user.first_name),
                  last_name=text(request, "lastname", 150, default=user.last_name),
                  is_active=flag(request, "enable", default=user.is_active))
        return data(None)

    @doc("Delete a user")
    def delete(self, request: Request, userid: str) -> Response:
        delete_user(request.user, user_named(request.user, userid))
        return data(None)


# -- API tokens ----------------------------------------------------------------------------------------------

def _token_entry(token: ApiToken) -> dict:
    return {"comment": token.comment, "privsep": int(token.privsep),
            "expire": int(token.expires_at.timestamp()) if token.expires_at else 0}


def _expiry(request: Request):
    expire = optional_number(request, "expire", 2**40)
    if expire is None:
        return None, False
    return (datetime.fromtimestamp(min(expire, 253402300799), tz=UTC) if expire else None), True


def _own_token(request: Request, userid: str, tokenid: str) -> ApiToken:
    user = user_named(request.user, userid)
    token = user.api_tokens.filter(tokenid=tokenid).first()
    if token is None or (user.pk != request.user.pk and not permissions.is_root(request.user)):
        raise NotFound(f"no such token '{tokenid}' for user '{userid}'")
    return token


class TokensView(APIView):
    @doc("A user's API tokens", arr(obj(("tokenid",), tokenid=STRING, comment=STRING, privsep=BOOLEAN, expire=INTEGER)))
    def get(self, request: Request, userid: str) -> Response:
        user = user_named(request.user, userid)
        if user.pk != request.user.pk and not permissions.is_root(request.user):
            return data([])
        return data([{"tokenid": t.tokenid, **_token_entry(t)} for t in user.api_tokens.all()])


class TokenView(APIView):
    @doc("An API token", TOKEN)
    def get(self, request: Request, userid: str, tokenid: str) -> Response:
        return data(_token_entry(_own_token(request, userid, tokenid)))

    @doc(
        "Make an API token: its secret, shown once",
        obj(("full-tokenid", "value"), full__tokenid=STRING, info=TOKEN, value=STRING),
        body=TOKEN_CHANGE,
    )
    def post(self, request: Request, userid: str, tokenid: str) -> Response:
        """A new token: its full id and its secret (a UUID), shown this once."""
        owner = user_named(request.user, userid)
        expires_at, _ = _expiry(request)
        token, secret = create_token(request.user, tokenid, privsep=flag(request, "privsep", default=True),
                                     expires_at=expires_at, comment=text(request, "comment", 255), owner=owner)
        return data({"full-tokenid": token.full_id, "info": _token_entry(token), "value": secret})

    @doc("Change an API token", TOKEN, body=TOKEN_CHANGE)
    def put(self, request: Request, userid: str, tokenid: str) -> Response:
        token = _own_token(request, userid, tokenid)
        fields: dict = {}
        if "comment" in params_of(request):
            fields["comment"] = text(request, "comment", 255)
        if "privsep" in params_of(request):
            fields["privsep"] = flag(request, "privsep")
        expires_at, given = _expiry(request)
        if given:
            fields["expires_at"] = expires_at
        return data(_token_entry(update_token(request.user, token, **fields)))

    @doc("Delete an API token")
    def delete(self, request: Request, userid: str, tokenid: str) -> Response:
        delete_token(request.user, _own_token(request, userid, tokenid))
        return data(None)


# -- groups and roles ----------------------------------------------------------------------------------------

def _groupid(request: Request, value: str | None = None) -> str:
    name = value if value is not None else text(request, "groupid", 150, required=True)
    if not GROUP_ID.match(name):
        raise ValidationError({"groupid": "a group id: letters, digits, '.', '_' and '-'"})
    return name


class GroupsView(APIView):
    @doc("The groups the user may read", arr(obj(("groupid",), groupid=STRING, comment=STRING, users=STRING)))
    def get(self, request: Request) -> Response:
        return data([{"groupid": g.name, "comment": "",
                      "users": ",".join(sorted(userid_of_name(u.get_username()) for u in g.user_set.all()))}
                     for g in groups_visible_to(request.user)])

    @doc("Create a group", None, body=obj(("groupid",), groupid=STRING, comment=STRING))
    def post(self, request: Request) -> Response:
        save_group(request.user, None, _groupid(request))
        return data(None)


class GroupView(APIView):
    @doc("A group's members", obj(("members",), comment=STRING, members=arr(STRING)))
    def get(self, request: Request, groupid: str) -> Response:
        group = group_named(request.user, _groupid(request, groupid))
        return data({"comment": "", "members": sorted(userid_of_name(u.get_username()) for u in group.user_set.all())})

    @doc("Delete a group")
    def delete(self, request: Request, groupid: str) -> Response:
        delete_group(request.user, group_named(request.user, _groupid(request, groupid)))
        return data(None)


def _privileges(request: Request) -> list[str]:
    names = [p for p in re.split(r"[,;\s]+", text(request, "privs", 4096)) if p]
    unknown = [p for p in names if p not in PRIVILEGES]
    if unknown:
        raise ValidationError({"privs": f"invalid privilege name '{unknown[0][:64]}'"})
    return names


def _roleid(request: Request, value: str | None = None) -> str:
    name = value if value is not None else text(request, "roleid", 64, required=True)
    if not ROLE_ID.match(name):
        raise ValidationError({"roleid": "a role id: letters, digits, '.', '_' and '-', starting with a letter"})
    return name


def _role(name: str) -> Role:
    role = Role.objects.filter(name=name).first() or (builtin_role(name) if name in BUILTIN_ROLES else None)
    if role is None:
        raise NotFound(f"role '{name}' does not exist")
    return role


class RolesView(APIView):
    @doc("The roles", arr(obj(("roleid", "privs"), roleid=STRING, privs=STRING, special=BOOLEAN)))
    def get(self, request: Request) -> Response:
        roles = {r.name: (r.privileges, r.builtin) for r in Role.objects.all()}
        for name, privileges in BUILTIN_ROLES.items():  # made by a data migration, which a test may flush
            roles.setdefault(name, (privileges, True))
        return data([{"roleid": name, "privs": ",".join(sorted(privileges)), "special": int(builtin)}
                     for name, (privileges, builtin) in sorted(roles.items())])

    @doc("Create a role", None, body=obj(("roleid",), roleid=STRING, privs=STRING))
    def post(self, request: Request) -> Response:
        save_role(request.user, None, _roleid(request), _privileges(request))
        return data(None)


class RoleView(APIView):
    @doc("A role's privileges", {"type": "object", "additionalProperties": BOOLEAN})
    def get(self, request: Request, roleid: str) -> Response:
        return data({p: 1 for p in sorted(_role(_roleid(request, roleid)).privileges)})

    @doc("Change a role's privileges", None, body=obj(privs=STRING, append=BOOLEAN))
    def put(self, request: Request, roleid: str) -> Response:
        role = _role(_roleid(request, roleid))
        privileges = _privileges(request)
        if flag(request, "append"):
            privileges = sorted({*role.privileges, *privileges})
        save_role(request.user, role, role.name, privileges)
        return data(None)

    @doc("Delete a role")
    def delete(self, request: Request, roleid: str) -> Response:
        delete_role(request.user, _role(_roleid(request, roleid)))
        return data(None)


# -- ACL entries and permissions -----------------------------------------------------------------------------

def _acl_entry(entry: AclEntry) -> dict:
    kind = "user" if entry.user_id else "group" if entry.group_id else "token"
    ugid = entry.subject.removeprefix("@") if kind == "group" else entry.subject
    return {"path": entry.path, "type": kind, "ugid": ugid, "roleid": entry.role.name,
            "propagate": int(entry.propagate)}


def _subjects(request: Request) -> list[dict]:
    """The users, groups and tokens named by ``users``, ``groups`` and ``tokens``, as save_acl takes them."""
    subjects: list[dict] = []
    for name in _split(text(request, "users", 4096)):
        found = get_user_model().objects.filter(username=_userid(name, "users")).first()
        if found is None:
            raise ValidationError({"users": f"user '{name[:64]}' does not exist"})
        subjects.append({"user": found})
    for group in _groups(request) or []:
        subjects.append({"group": group})
    for name in _split(text(request, "tokens", 4096)):
        match = TOKEN_FULL_ID.match(name)
        token = ApiToken.objects.select_related("user").filter(
            user__username=username_of(f"{match[1]}@{match[2]}"), tokenid=match[3]).first() if match else None
        if token is None:
            raise ValidationError({"tokens": f"token '{name[:64]}' does not exist"})
        subjects.append({"token": token})
    return subjects


def _split(value: str) -> list[str]:
    return [v for v in re.split(r"[,;\s]+", value) if v]


class AclView(APIView):
    @doc(
        "The ACL entries on paths where the user may change permissions",
        arr(
            obj(
                ("path", "type", "ugid", "roleid"),
                path=STRING,
                type={"type": "string", "enum": ["user", "group", "token"]},
                ugid=STRING,
                roleid=STRING,
                propagate=BOOLEAN,
            )
        ),
    )
    def get(self, request: Request) -> Response:
        return data([_acl_entry(e) for e in acl_visible_to(request.user)])

    @doc(
        "Grant roles on a path (or take them away with delete=1)",
        None,
        body=obj(
            ("path", "roles"),
            path=STRING,
            roles=STRING,
            users=STRING,
            groups=STRING,
            tokens=STRING,
            propagate=BOOLEAN,
            delete=BOOLEAN,
        ),
    )
    def put(self, request: Request) -> Response:
        """Grant (or with ``delete=1`` take away) each of ``roles`` on ``path`` to each user, group and token."""
        path = normalize_acl_path(text(request, "path", 255, required=True))
        roles = [_role(_roleid(request, r)) for r in _split(text(request, "roles", 4096, required=True))]
        subjects = _subjects(request)
        if not subjects:
            raise ValidationError({"users": "name at least one user, group or token"})
        propagate, remove = flag(request, "propagate", default=True), flag(request, "delete")
        for role in roles:
            for subject in subjects:
                existing = AclEntry.objects.select_related("role", "group").filter(
                    path=path, role=role, **subject).first()
                if remove:
                    if existing is not None:
                        delete_acl(request.user, existing)
                elif existing is None or existing.propagate != propagate:
                    save_acl(request.user, existing, path=path, role=role, propagate=propagate, **subject)
        return data(None)


class PermissionsView(APIView):
    @doc(
        "Privileges by path",
        {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": BOOLEAN}},
        query=(param("userid", STRING), param("path", STRING)),
    )
    def get(self, request: Request) -> Response:
        """``{path: {privilege: 1}}`` of oneself, of one's token, or (Sys.Audit on /access) of another user."""
        full_id = text(request, "userid", 128) or None
        path = text(request, "path", 255) or None
        return data(permissions_of(request.user, full_id, normalize_acl_path(path) if path else None))
