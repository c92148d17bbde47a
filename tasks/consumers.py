"""Websockets for tasks: one task's log (backlog, then live lines) and the cluster's task list.

Authorisation happens at connect time through the task queryset, like every page, and again whenever access
changes (panel/consumers.py); a client that may not see the task gets its socket closed. Lines are numbered:
a watcher sends each number once, in order, and fills any gap from the database, so it neither loses nor
repeats a line.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.db.models import Max

from access import permissions
from access.identity import userid
from panel.consumers import CLOSE_FORBIDDEN, PanelConsumer, shared_awaitables
from panel.parsing import decimal_or_none

from . import events
from .choices import ACTIVE_STATUSES
from .models import Task

BACKLOG_CHUNK = 500
# A viewer that asks for the whole log (start=0) of a long task gets its latest lines only, after an "older"
# message saying how many came before (to load on demand: the task page's ?start=, the API's log?start&limit).
BACKLOG_CAP = 200
TASK_LIST_BACKLOG = 50


class TaskLogConsumer(PanelConsumer):
    """``ws/tasks/<upid>/log/?start=N``: lines after N, then live lines, then the final status. With start=0 (the
    default) a long log starts at its last BACKLOG_CAP lines, announced by ``{"type": "older", "lines": K}``
    (lines 1 to K were left out)."""

    async def start(self) -> None:
        self.task = await self._visible_task(self.scope["url_route"]["kwargs"]["upid"])
        if self.task is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.last_sent = self._start_from_query()
        if self.last_sent == 0 and self._last_number > BACKLOG_CAP:
            self.last_sent = self._last_number - BACKLOG_CAP
            self.older = self.last_sent
        summary = await self._summary()
        if summary["status"] not in ACTIVE_STATUSES:  # it has ended: its whole log is stored
            await self.accept()
            await self._send_older()
            await self._send_lines_up_to(None)
            await self._finish(summary)
            return
        self.group = events.task_group(self.task.pk)
        # Join first, read the backlog second: a line written in between comes both ways and is sent once.
        await self.follow(self.group)
        await self.accept()
        await self._send_older()
        await self._send_lines_up_to(None)
        summary = await self._summary()
        if summary["status"] not in ACTIVE_STATUSES:  # it ended before we joined: nobody sent us its end
            await self._send_lines_up_to(None)
            await self._finish(summary)

    async def _send_older(self) -> None:
        if getattr(self, "older", 0):
            await self.send_json({"type": "older", "lines": self.older})

    async def access_checked(self) -> None:
        if await self._visible_task(self.task.upid) is None:
            await self.close(code=CLOSE_FORBIDDEN)

    async def task_lines(self, event: dict) -> None:
        for line in event["items"]:
            if line["n"] <= self.last_sent:
                continue  # already sent from the backlog
            if line["n"] > self.last_sent + 1:
                await self._send_lines_up_to(line["n"] - 1)  # a message was lost on the way: read the gap
            await self.send_shared(("line", self.task.pk, line["n"]), {"type": "line", **line})
            self.last_sent = line["n"]

    async def task_status(self, event: dict) -> None:
        if event["task"]["status"] in ACTIVE_STATUSES:
            await self.send_json({"type": "status", "task": event["task"]})
            return
        await self._send_lines_up_to(None)  # every line is stored before the final status is published
        await self._finish(event["task"])

    async def _finish(self, summary: dict) -> None:
        await self.send_json({"type": "status", "task": summary})
        await self.close()

    def _start_from_query(self) -> int:
        query = dict(
            part.split("=", 1) for part in self.scope.get("query_string", b"").decode().split("&") if "=" in part
        )
        return decimal_or_none(query.get("start", "0")) or 0

    async def _send_lines_up_to(self, last: int | None) -> None:
        while True:
            lines = await self._lines(self.last_sent, last)
            for line in lines:
                await self.send_json({"type": "line", **line})
                self.last_sent = line["n"]
            if len(lines) < BACKLOG_CHUNK:
                return

    @database_sync_to_async
    def _lines(self, after: int, last: int | None) -> list[dict]:
        rows = self.task.log_lines.filter(number__gt=after).order_by("number")
        if last is not None:
            rows = rows.filter(number__lte=last)
        return [events.line_message(line) for line in rows[:BACKLOG_CHUNK]]

    @database_sync_to_async
    def _visible_task(self, upid: str) -> Task | None:
        self.remember_view()
        queryset = Task.objects.visible_to(self.scope["user"])
        task = queryset.filter(upid=upid).first()
        self._last_number = (task.log_lines.aggregate(n=Max("number"))["n"] or 0) if task is not None else 0
        return task

    @database_sync_to_async
    def _summary(self) -> dict:
        return events.task_row(Task.objects.select_related("node", "user", "parent").get(pk=self.task.pk))


class TaskListConsumer(PanelConsumer):
    """``ws/tasks/``: the latest tasks the user may see, then every change to them, pushed."""

    async def start(self) -> None:
        await self.follow(events.TASK_LIST_GROUP)
        await self.accept()
        await self.send_json({"type": "tasks", "tasks": await self._recent()})

    async def access_checked(self) -> None:
        await self.send_json({"type": "tasks", "tasks": await self._recent()})  # the list, as now allowed

    async def tasks_changed(self, event: dict) -> None:
        visible = await self._visible(event)
        for item in event["items"]:
            if item["task_id"] in visible:
                await self.send_shared(("task", event["id"], item["task_id"]), {"type": "task", "task": item["task"]})

    @database_sync_to_async
    def _recent(self) -> list[dict]:
        self.remember_view()
        queryset = Task.objects.select_related("node", "user", "parent").visible_to(self.scope["user"])
        return [events.task_row(task) for task in queryset.filter(parent=None)[:TASK_LIST_BACKLOG]]

    async def _visible(self, event: dict) -> frozenset[int]:
        """The changed tasks this user may see: their own (known without a query), and one query per batch and
        permission set for the others, whatever the number of viewers sharing it."""
        user, items = self.scope["user"], event["items"]
        ids = frozenset(item["task_id"] for item in items)
        if permissions.is_root(user):
            return ids
        token = permissions.api_token(user)
        if token is None or not token.privsep:  # their own tasks: the condition's first part
            own = userid(user.get_username())
            ids_own = frozenset(item["task_id"] for item in items if item["task"]["user"] == own)
        else:
            ids_own = frozenset()

        def audited() -> frozenset[int]:
            condition = permissions.task_condition(user, own=False)
            return frozenset(Task.objects.filter(pk__in=ids).filter(condition).values_list("pk", flat=True))

        return ids_own | await shared_awaitables.get(("tasks", event["id"], self.view), audited)
