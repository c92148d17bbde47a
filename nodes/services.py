"""Node-wide actions as the web process asks for them."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from access import permissions
from access.audit import audited
from panel.errors import Forbidden, NodeUnavailable
from tasks.models import Task
from tasks.services import check_timeout, submit

from .choices import NodeStatus
from .models import Node

BULK_ACTIONS = {"startall": "Start all", "stopall": "Stop all"}


def request_bulk(user: AbstractBaseUser, node: Node, action: str, **params: object) -> Task:
    """start-all or stop-all of one node; optional ``vms`` (a list of VMIDs), ``force``, ``timeout``."""
    if action not in BULK_ACTIONS:
        raise ValueError(f"unknown bulk action {action!r}")
    with audited(user, f"node.{action}", node.name) as outcome:
        check_may_power(user, node, action)
        check_timeout(params.get("timeout"))
        if node.status != NodeStatus.ONLINE:
            raise NodeUnavailable(f"node {node.name} is {node.status}: its worker has not reported recently")
        task = submit(node, action, user, params=params)
        outcome.detail = task.upid
    return task


def check_may_power(user: AbstractBaseUser, node: Node, action: str) -> None:
    if not permissions.can_power_node(user, node):
        raise Forbidden(f"you may not {BULK_ACTIONS[action].lower()} on node {node.name}")


def request_bulk_everywhere(user: AbstractBaseUser, action: str, **params: object) -> list[Task]:
    """The datacenter's start-all / stop-all: one task per online node."""
    nodes = [node for node in Node.objects.all() if node.status == NodeStatus.ONLINE]
    for node in nodes:  # all or nothing: refuse before queuing anything
        with audited(user, f"datacenter.{action}", node.name):
            check_may_power(user, node, action)
    return [request_bulk(user, node, action, **params) for node in nodes]
