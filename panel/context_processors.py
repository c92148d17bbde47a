"""What every page's template gets."""

from __future__ import annotations

from django.http import HttpRequest

from access import permissions
from guests.choices import STATE_BADGES, GuestState
from nodes.choices import STATUS_BADGES as NODE_BADGES
from nodes.choices import NodeStatus
from tasks.choices import STATUS_BADGES as TASK_BADGES
from tasks.choices import TaskStatus


def badges(request: HttpRequest) -> dict:
    """The label and colour of every state word, for static/panel/format.js: the tables of the choices,
    never a second copy in JavaScript. A storage is "available" like an online node."""
    def table(badges: dict, choices: type) -> dict[str, list[str]]:
        return {str(value): [str(choices(value).label), tone] for value, tone in badges.items()}

    return {"panel_badges": {
        "guest": table(STATE_BADGES, GuestState),
        "node": {**table(NODE_BADGES, NodeStatus), "available": ["available", "ok"]},
        "task": table(TASK_BADGES, TaskStatus),
    }}


def workspace(request: HttpRequest) -> dict:
    """What the workspace's header shows; each answer computed only if the page draws it."""
    user = getattr(request, "user", None)

    def can_create() -> bool:
        return bool(user and user.is_authenticated and permissions.can_create_guests(user))

    return {"workspace": {"can_create": can_create}}
