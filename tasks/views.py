import re

from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views import View
from django.views.generic import ListView, TemplateView

from access import permissions
from panel.parsing import decimal
from panel.views import PanelPageMixin, queue_task

from .models import Task
from .services import cancel

LOG_PAGE = 1000  # lines of a log a task page shows at once
BULK_TYPES = {"startall", "stopall", "migrateall"}
PROGRESS = re.compile(r"progress (\d+)/(\d+)")


def bulk_progress(task: Task) -> tuple[int, int] | None:
    """A bulk task's guests done and in all, as its log last said ("progress N/M"); None for other tasks."""
    if task.type not in BULK_TYPES:
        return None
    line = task.log_lines.filter(text__startswith="progress ").order_by("-number").first()
    match = PROGRESS.fullmatch(line.text) if line else None
    if match:
        return int(match[1]), int(match[2])
    return 0, len(task.params.get("vms") or [])


class TaskListView(PanelPageMixin, ListView):
    template_name = "tasks/task_list.html"
    context_object_name = "tasks"
    paginate_by = 50

    def get_queryset(self):
        tasks = Task.objects.select_related("node", "user").filter(parent=None)
        return tasks.visible_to(self.request.user)


class TaskDetailView(PanelPageMixin, TemplateView):
    template_name = "tasks/task_detail.html"

    def get_context_data(self, **kwargs: object) -> dict:
        queryset = Task.objects.select_related("node", "user", "guest", "parent__node").visible_to(self.request.user)
        task = get_object_or_404(queryset, upid=kwargs["upid"])
        # One page of the log (the latest, unless ?start= asks for earlier lines): a task may log 100,000 lines.
        last = task.log_lines.aggregate(n=Max("number"))["n"] or 0
        asked = self.request.GET.get("start")
        start = decimal(asked, "start", maximum=last) if asked is not None else max(last - LOG_PAGE, 0)
        log_lines = list(task.log_lines.filter(number__gt=start).order_by("number")[:LOG_PAGE])
        return super().get_context_data(
            task=task,
            log_lines=log_lines,
            last_line=log_lines[-1].number if log_lines else start,
            earlier=max(start - LOG_PAGE, 0) if start else None,
            later=log_lines[-1].number if log_lines and log_lines[-1].number < last else None,
            children=task.children.select_related("node", "user"),
            progress=bulk_progress(task),
            # Only where a cancel takes effect: queued, or running with a point to stop at.
            can_cancel=task.can_be_cancelled and permissions.can_cancel_task(self.request.user, task),
            **kwargs,
        )


class TaskCancelView(PanelPageMixin, View):
    def post(self, request: HttpRequest, upid: str) -> HttpResponse:
        queryset = Task.objects.visible_to(request.user)
        task = get_object_or_404(queryset, upid=upid)
        return queue_task(request, lambda: cancel(request.user, task), task, lambda _task: "cancel requested")
