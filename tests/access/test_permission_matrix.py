"""The permission matrix: every route of the panel, by every method, for subjects holding each of Proxmox VE's
built-in roles and a custom one, granted on /, on a node, on a guest and on a pool, to a user, through a group
and to a privilege-separated API token, plus root and an anonymous visitor. Every answer is judged against
the one Proxmox's rules give (tests/access/reference.py over tests/access/proxmox_roles.py: never the panel's
own tables), on what it says as well as its status (tests/access/matrix_routes.py):

- an allowed request does what it says (a 302 to the task it queued, as the subject, on exactly the guests it
  may act on; a 200 showing the object; the rows it made) and leaves its audit row, from the client's address;
- a denied one is the refusal expected (a 404 of a restricted lookup, a 403 with the service's reason, the
  refusal shown beside the object, a form error, the login page, a 401 for the API, a 405 for a method the route
  does not serve), from the view the URL names, and changes nothing: guests, tasks and their log lines, ACL
  entries, roles, groups and memberships, users' flags and passwords, tokens, nodes and the audit log, but for
  the one row a refused change adds ("denied", or "failed" for a refusal the user can correct; a read, or a
  404 of an object the subject may not know of, adds none);
- no response names a guest, VMID, node, task, log line or another user's token outside the subject's grant
  (the world's names are recognisable; see tests/access/matrix_world.py), nor does any socket message.

Size: a subject is a role on a grant shape. All 18 roles (17 built-in and the custom one) are granted on / to
a user, where every privilege of a role is effective on every object, so a role with one privilege too many
or too few shows on some route. The other eleven shapes (a node, a guest, a pool through a user; /, a node, a
guest, a pool through a group and through a token) are run with four roles that separate what the routes
check: Administrator (everything), PVEVMAdmin (guests but no node), PVEAuditor (seeing only) and the custom
MxOperator (power over nodes and guests without Sys.Modify or VM.Allocate). Token subjects make the API
requests (pages do not take tokens; one page request checks that). The served methods are sent by everyone;
the others (and HEAD beside each GET) by six subjects only, as their answer depends only on the refusals that
come before any method (see THOROUGH). Three subjects combine entries: a deny of one guest under
Administrator on /, a user's entry over their group's, a token capped by a weaker user. In all 67 subjects,
about 8,000 HTTP requests and 350 sockets: some two minutes and a half on this machine's two cores.

Every request runs in a savepoint rolled back afterwards, so each starts from the same world.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
from urllib.parse import urlencode, urlsplit

import pytest
import websockets
from django.contrib import messages
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from websockets.exceptions import ConnectionClosed, InvalidStatus

from access import permissions
from access.models import AuditEntry, builtin_role
from panel.routing import websocket_urlpatterns
from tests.factories import PASSWORD
from tests.support import logged_in, post_form, session_cookie

from . import matrix_routes as mr
from .matrix_world import (
    CUSTOM,
    CUSTOM_ROLE,
    LOOSE,
    NODE_A,
    POOL,
    TARGET,
    TASK,
    World,
    build_world,
    give,
    markers,
    sees_task,
    snapshot,
    subject_acls,
    visible_tasks,
)
from .proxmox_roles import ROLES
from .reference import Acl, Subject

METHODS = ("get", "post", "put", "patch", "delete", "options", "head")
ALL_ROLES = [*sorted(ROLES), CUSTOM_ROLE]
REPRESENTATIVE_ROLES = ["Administrator", "PVEVMAdmin", "PVEAuditor", CUSTOM_ROLE]
SHAPES = {"node": f"/nodes/{NODE_A}", "guest": TARGET.path, "pool": f"/pool/{POOL}", "root path": "/"}


def one_grant(kind: str, role: str, where: str) -> Subject:
    user_acls, token_acls = subject_acls(kind, role, SHAPES[where])
    return Subject(f"{role} on {SHAPES[where]} to a {kind}", kind, user_acls, token_acls, CUSTOM)


def subjects() -> list[Subject]:
    found = [Subject("anonymous", "anonymous"), Subject("root", "root")]
    found += [one_grant("user", role, "root path") for role in ALL_ROLES]
    for kind, where in [("user", "node"), ("user", "guest"), ("user", "pool"), *[
            (k, w) for k in ("group", "token") for w in SHAPES]]:
        found += [one_grant(kind, role, where) for role in REPRESENTATIVE_ROLES]
    found += [
        Subject("Administrator on / with NoAccess on a guest", "user",
                (Acl("/", "Administrator", "user"), Acl(LOOSE.path, "NoAccess", "user")), None, CUSTOM),
        Subject("a user's PVEAuditor over their group's Administrator", "group",
                (Acl("/", "Administrator", "group"), Acl("/", "PVEAuditor", "user")), None, CUSTOM),
        Subject("a token with Administrator on / of a PVEVMUser of a pool", "token",
                (Acl(f"/pool/{POOL}", "PVEVMUser", "user"),), (Acl("/", "Administrator", "token"),), CUSTOM),
    ]
    return found


SUBJECTS = {s.label: s for s in subjects()}


# Those who also send every method a route does not serve: its answer depends only on the refusals before any
# method (the login, a 401, a page's own check of who may manage or create), which these four roles on / split.
THOROUGH = {"anonymous", "root", *(f"{role} on / to a user" for role in
                                   ("Administrator", "PVEAdmin", "PVEAuditor", "NoAccess"))}


def thorough(s: Subject) -> bool:
    return s.label in THOROUGH


# -- the routes the project has --------------------------------------------------------------------------------

def url_patterns(resolver: URLResolver, prefix: str = "") -> dict[str, URLPattern | URLResolver]:
    """Every route of the project by its full pattern; Django's admin counts as one route (admin/)."""
    found = {}
    for entry in resolver.url_patterns:
        pattern = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver) and getattr(entry, "app_name", None) != "admin":
            found.update(url_patterns(entry, pattern))
        else:
            found[pattern] = entry
    return found


def served_methods(entry: URLPattern) -> set[str]:
    """The methods the route's view has a handler for (OPTIONS and HEAD every view answers)."""
    callback = entry.callback
    view = getattr(callback, "view_class", None) or callback.cls
    initkwargs = getattr(callback, "view_initkwargs", None) or getattr(callback, "initkwargs", {})
    names = initkwargs.get("http_method_names", view.http_method_names)
    return {m for m in names if hasattr(view, m)} - {"options", "head"}


def test_every_route_and_method_is_in_the_matrix() -> None:
    routes = url_patterns(get_resolver())
    assert sorted(routes) == sorted(mr.ROUTES)
    pairs = 0
    for pattern, entry in routes.items():
        if pattern == "admin/":
            continue  # Django's own, off in production: its index and one list are requested
        declared = {case.method for case in mr.ROUTES[pattern].cases}
        assert served_methods(entry) == declared, pattern
        pairs += len(METHODS)
    assert pairs == len(METHODS) * (len(routes) - 1)
    assert sorted(str(p.pattern) for p in websocket_urlpatterns) == sorted(WS_ROUTES)


# -- one request, judged ---------------------------------------------------------------------------------------

def values_of(world: World) -> dict[str, object]:
    return {
        **world.upids, "victim": world.victim.pk, "superuser": world.superuser.pk, "spare_group": world.spare_group.pk,
        "spare_role": world.spare_role.pk, "spare_acl": world.spare_acl.pk, "pool": world.pools[POOL].pk,
        "pool2": world.pools["mxpool2"].pk, "own_token": world.own_token.pk if world.own_token else 0,
        "other_token": world.other_token.pk, "auditor_role": builtin_role("PVEAuditor").pk,
        "vmuser_role": builtin_role("PVEVMUser").pk,
    }


def send(client, method: str, url: str, data: dict, world: World):
    extra = {"HTTP_AUTHORIZATION": f"PVEAPIToken={world.api_token.full_id}={world.api_secret}"} \
        if world.api_token is not None else {}
    if method == "post":
        return client.post(url, data, **extra)
    if method == "put":
        return client.generic("PUT", url, urlencode(data, doseq=True), "application/x-www-form-urlencoded", **extra)
    return client.generic(method.upper(), url, **extra)


def body_of(response) -> str:
    text = b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()
    return html.unescape(text)


def refusal_text(body: str, api: bool) -> str:
    if api:
        try:
            return str(json.loads(body).get("message", ""))
        except ValueError:
            return body
    return body


def judge_status(outcome: mr.Outcome, ctx: mr.Context, notes: list[str]) -> list[str]:
    response, kind = ctx.response, outcome.kind
    status, location = response.status_code, response.get("Location", "")
    reason = ctx.fmt(outcome.reason)
    wanted_status = {mr.NOT_FOUND: 404, mr.FORBIDDEN: 403, mr.INVALID: 400, mr.UNAUTHORIZED: 401,
                     mr.NOT_ALLOWED: 405, mr.CONFLICT: 409}
    if kind == mr.OK:
        return outcome.check(ctx) if outcome.check else ([] if status == 200 else [f"status {status}"])
    if kind in wanted_status:
        if status != wanted_status[kind]:
            return [f"status {status} {location}, expected {wanted_status[kind]} ({kind} {reason!r})"]
        if ctx.response.request["REQUEST_METHOD"] == "HEAD":
            return []  # the same answer as GET, without its body
        return [] if reason in refusal_text(ctx.body, ctx.api) else [f"{status} without {reason!r}"]
    if kind == mr.REFUSED:
        problems = mr.same("refusal", (status, location), (302, ctx.fmt(outcome.back)))
        return problems + ([] if any(reason in n for n in notes) else [f"no message {reason!r} in {notes}"])
    if kind in (mr.LOGIN, mr.ADMIN_LOGIN):
        page = "/login/?next=" if kind == mr.LOGIN else "/admin/login/?next="
        return [] if status == 302 and location.startswith(page) else [f"status {status} {location}, not {kind}"]
    raise AssertionError(kind)


def judge_rows(outcome: mr.Outcome, ctx: mr.Context, after: dict[str, object]) -> list[str]:
    """The audit rows the request added are exactly those expected (as the subject, from its address), and a
    refused request changed nothing else."""
    added = list(AuditEntry.objects.filter(pk__gt=ctx.before["audit"].last_pk).order_by("pk"))
    problems = mr.same("audit rows", [(a.action, a.result) for a in added], list(outcome.audit))
    for entry in added:
        if entry.address != "127.0.0.1":
            problems.append(f"audit row {entry.action} from {entry.address!r}")
        if entry.action != "login" and entry.user_id != getattr(ctx.user, "pk", None):
            problems.append(f"audit row {entry.action} of user {entry.user_id}")
    if outcome.kind != mr.OK:
        problems += [f"a refused request changed the {table}" for table in ctx.before
                     if table != "audit" and ctx.before[table] != after[table]]
    return problems


def leaks(texts: list[str], found: list, public: bool) -> list[str]:
    """The world's names the subject may not read (on the public status page: none at all)."""
    text = "\n".join(texts)
    return [m.what for m in found if (public or not m.allowed) and m.pattern.search(text)]


def run(client, subject: Subject, world: World, route: str, kind: str, method: str, url_template: str,
        data: dict, outcome: mr.Outcome, follow_head: bool = False) -> list[str]:
    values = world.values
    url = url_template.format(**values)
    label = f"{method.upper()} {url}"
    match = resolve(urlsplit(url).path)
    if kind != "admin" and match.route != route:
        return [f"{label}: resolves to {match.route!r}, not {route!r}"]
    data = {k: ([x.format(**values) for x in v] if isinstance(v, list) else str(v).format(**values))
            for k, v in data.items()}
    client.cookies.pop("messages", None)
    with transaction.atomic():
        before = snapshot()
        response = send(client, method, url, data, world)
        notes = [m.message for m in messages.get_messages(response.wsgi_request)] if hasattr(
            response, "wsgi_request") else []
        body = body_of(response)
        ctx = mr.Context(response, body, values, before, world.user, kind == "api")
        if response.status_code >= 500:
            problems = [f"status {response.status_code}"]
        else:
            problems = judge_status(outcome, ctx, notes)
            problems += judge_rows(outcome, ctx, snapshot())
            # A refusal may repeat what the request asked for ("there is no node named 'x'"): not a leak.
            echoed = ctx.fmt(outcome.reason) if outcome.kind != mr.OK and outcome.reason else "\0"
            texts = [t.replace(echoed, "") for t in (body, *notes)]
            problems += [f"names {what}" for what in leaks(texts, world.markers, kind == "public")]
            problems += [f"names {what}" for what in outcome.absent if ctx.fmt(what) in body]
        if follow_head:
            head = send(client, "head", url, data, world)
            if (head.status_code, head.get("Location"), head.content) != (response.status_code,
                                                                           response.get("Location"), b""):
                problems.append(f"HEAD answers {head.status_code} {head.get('Location')} {head.content[:80]!r}")
        transaction.set_rollback(True)
    # The world is the subject's committed state: grants read at its access version may be kept again (a
    # case that changed access, rolled back, made this process stop keeping them until a commit).
    permissions.forget_version()
    return [f"{label}: {p}" for p in problems]


def expected(route: mr.Route, case_expect, subject: Subject, method: str) -> mr.Outcome:
    """What ``subject`` gets: the login page or a 401 first, then the page's own refusal, then the case's."""
    if route.kind == "admin":
        return case_expect(subject) if subject.root else mr.Outcome(mr.ADMIN_LOGIN)
    if route.kind == "api" and subject.anonymous:
        return mr.Outcome(mr.UNAUTHORIZED, reason="No ticket")
    if route.kind == "page" and (subject.anonymous or subject.token):
        return mr.Outcome(mr.LOGIN)
    if route.guard is not None and (refused := route.guard(subject, method)) is not None:
        return refused
    return case_expect(subject)


def unserved(route: mr.Route, subject: Subject, method: str) -> mr.Outcome:
    """A method the route does not serve: a 405 (OPTIONS: the allowed methods), after the refusals that come
    before any method (the login page, a 401, the page's own)."""
    def answer(s: Subject) -> mr.Outcome:
        if method != "options":
            return mr.Outcome(mr.NOT_ALLOWED)
        served = {c.method.upper() for c in route.cases} | {"OPTIONS"}
        served |= {"HEAD"} if "GET" in served else set()
        return mr.ok(lambda ctx: mr.same("Allow", set(ctx.response.get("Allow", "").replace(" ", "").split(",")),
                                         served))
    if route.kind == "public":
        return answer(subject)
    return expected(route, answer, subject, method)


def matrix(client, subject: Subject, world: World) -> list[str]:
    problems = []
    for pattern, route in mr.ROUTES.items():
        if subject.token and route.kind != "api" and pattern != "":
            continue
        for case in route.cases:
            outcome = expected(route, case.expect, subject, case.method)
            problems += run(client, subject, world, pattern, route.kind, case.method, case.url, case.data, outcome,
                            follow_head=case.method == "get" and route.kind != "admin" and thorough(subject))
            if pattern == "logout/" and world.user is not None:
                client.force_login(world.user)  # logged out by the case
        if not thorough(subject) or route.kind == "admin":
            continue
        served = {c.method for c in route.cases} | ({"head"} if any(c.method == "get" for c in route.cases) else set())
        for method in sorted(set(METHODS) - served):
            problems += run(client, subject, world, pattern, route.kind, method, route.cases[0].url, {},
                            unserved(route, subject, method))
    return problems


@pytest.mark.django_db
@pytest.mark.parametrize("label", list(SUBJECTS))
def test_http_matrix(client, label: str) -> None:
    subject = SUBJECTS[label]
    client.raise_request_exception = False  # a crash is a 500 to judge, like any answer
    world = build_world(subject)
    world.values, world.markers = values_of(world), markers(subject, world.upids)
    permissions.forget_version()  # see run()
    if world.user is not None and not subject.token:
        assert client.login(username=world.user.username, password=PASSWORD)
    problems = matrix(client, subject, world)
    assert not problems, f"{label}: {len(problems)} problems\n" + "\n".join(problems)


# -- websockets, through the server `make run` runs -----------------------------------------------------------

# The console sockets open real terminals: they are judged on real engines in tests/consoles/test_sockets.py.
WS_ROUTES = {"ws/tasks/", "ws/cluster/resources/", "ws/tasks/<str:upid>/log/", "ws/guests/<vmid:vmid>/console/",
             "ws/guests/<vmid:vmid>/vnc/", "ws/nodes/<str:name>/shell/"}


def ws_expected(s: Subject) -> dict[str, object]:
    """What each socket gives ``s``: None for a refusal at the handshake, else what its messages must hold."""
    if s.anonymous:
        return {path: None for path in ("/ws/tasks/", "/ws/cluster/resources/", *LOG_PATHS.values())}
    return {
        "/ws/tasks/": sorted(f"{{{t.label}}}" for t in visible_tasks(s)),
        "/ws/cluster/resources/": sorted(mr.resource_ids(s)),
        **{path: [TASK[label].line] if sees_task(s, TASK[label]) else None for label, path in LOG_PATHS.items()},
    }


LOG_PATHS = {label: f"/ws/tasks/{{{label}}}/log/" for label in TASK}


async def socket_answer(url: str, origin: str, cookie: str | None, path: str) -> tuple[object, list[str]]:
    """What the server gives: None if it refuses the handshake (a 403: checked, so a broken route fails),
    else the content of the first message (task UPIDs, resource ids, log lines), and every message's text."""
    headers = {"Origin": origin, **({"Cookie": cookie} if cookie else {})}
    try:
        async with websockets.connect(url, additional_headers=headers, open_timeout=20) as socket:
            first = json.loads(await asyncio.wait_for(socket.recv(), 20))
            texts = [json.dumps(first)]
            if first["type"] == "tasks":
                return sorted(t["upid"] for t in first["tasks"]), texts
            if first["type"] == "resources":
                return sorted(r["id"] for r in first["data"]), texts
            lines = [first["t"]]
            if path != LOG_PATHS["t_nodea"] and path != LOG_PATHS["t_nodeb"]:  # ended: its status, then closed
                async for message in socket:
                    texts.append(message)
            return lines, texts
    except InvalidStatus as exc:
        assert exc.response.status_code == 403, exc.response.status_code  # refused, not broken
        return None, []


def ws_subjects() -> list[Subject]:
    return [s for s in SUBJECTS.values() if not s.token]


@pytest.mark.django_db(transaction=True)
def test_websocket_matrix(asgi_server: str) -> None:
    """Each route of ws/, for each subject with a session (a token opens no socket), through a real daphne
    with the session cookie and the page's Origin: refused at the handshake, or what the grant allows."""
    subjects = ws_subjects()
    world = build_world(subjects[0])
    users = {subjects[0].label: world.user}
    for index, s in enumerate(subjects[1:]):
        give(world, s, f"mxws{index}")
        users[s.label] = world.user
    values = values_of(world)
    base = asgi_server.replace("http://", "ws://")

    async def scenario() -> list[str]:
        failures = []
        for s in subjects:
            user = users[s.label]
            cookie = await asyncio.to_thread(session_cookie, asgi_server, user.username) if user else None
            allowed = markers(s, world.upids)
            for path, wanted in ws_expected(s).items():
                got, texts = await socket_answer(base + path.format(**values), asgi_server, cookie, path)
                if wanted is not None:
                    wanted = sorted(str(w).format(**values) for w in wanted)
                if got != wanted:
                    failures.append(f"{s.label}: {path}: {got}, expected {wanted}")
                failures += [f"{s.label}: {path} names {what}" for what in leaks(texts, allowed, False)]
        return failures

    before = snapshot()
    failures = asyncio.run(scenario())
    assert not failures, "\n".join(failures)
    after = snapshot()
    assert {k: v for k, v in after.items() if k not in ("audit", "users")} == \
        {k: v for k, v in before.items() if k not in ("audit", "users")}  # logging in adds rows and sets last_login


async def until_closed(socket, timeout: float = 20) -> tuple[int, list[str]]:
    """The close code the server gives ``socket``, and the messages it sent on the way."""
    received = []

    async def drain() -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in socket:
                received.append(message)
    await asyncio.wait_for(drain(), timeout)
    return socket.close_code, received


@pytest.mark.django_db(transaction=True)
def test_a_user_deactivated_while_connected_is_told_nothing_more(asgi_server: str) -> None:
    """Root deactivates a connected PVEAuditor through the users page: each of their sockets (the task list,
    the resources, a running task's log) closes at once, with nothing more said; their session is over too."""
    world = build_world(SUBJECTS["PVEAuditor on / to a user"])
    values = values_of(world)
    viewer = logged_in(asgi_server, world.user.username)
    headers = {"Cookie": f"sessionid={viewer.cookies['sessionid']}", "Origin": asgi_server}
    base = asgi_server.replace("http://", "ws://")
    root = logged_in(asgi_server, world.root.username)

    async def scenario() -> None:
        paths = ["/ws/tasks/", "/ws/cluster/resources/", LOG_PATHS["t_nodea"].format(**values)]
        sockets = [await websockets.connect(base + path, additional_headers=headers, open_timeout=20)
                   for path in paths]
        for socket in sockets:
            await asyncio.wait_for(socket.recv(), 20)  # what they may see, at connect
        response = await asyncio.to_thread(post_form, root, f"{asgi_server}/access/users/{world.user.pk}/",
                                           {"username": world.user.username})  # "active" unticked
        assert response.status_code == 302, response.text[:300]
        for path, socket in zip(paths, sockets, strict=True):
            assert await until_closed(socket) == (4403, []), path
        page = await asyncio.to_thread(viewer.get, asgi_server + "/", allow_redirects=False, timeout=10)
        assert page.status_code == 302 and page.headers["Location"].startswith("/login/")

    asyncio.run(scenario())
