from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import ListView, TemplateView

from access import permissions
from panel.errors import Forbidden, PanelError
from panel.views import PanelPageMixin

from .models import Task
from .services import cancel


class TaskListView(PanelPageMixin, ListView):
    template_name = "tasks/task_list.html"
    context_object_name = "tasks"
    paginate_by = 50

    def get_queryset(self):
        tasks = Task.objects.select_related("node", "user").filter(parent=None)
        return permissions.visible_tasks(self.request.user, tasks)


class TaskDetailView(PanelPageMixin, TemplateView):
    template_name = "tasks/task_detail.html"

    def get_context_data(self, **kwargs: object) -> dict:
        queryset = permissions.visible_tasks(self.request.user, Task.objects.select_related("node", "user"))
        task = get_object_or_404(queryset, upid=kwargs["upid"])
        return super().get_context_data(
            task=task,
            log_lines=task.log_lines.all(),
            children=task.children.select_related("node", "user"),
            can_cancel=task.is_active and permissions.can_cancel_task(self.request.user, task),
            **kwargs,
        )


class TaskCancelView(PanelPageMixin, View):
    def post(self, request: HttpRequest, upid: str) -> HttpResponse:
        queryset = permissions.visible_tasks(request.user, Task.objects.all())
        task = get_object_or_404(queryset, upid=upid)
        try:
            cancel(request.user, task)
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from exc
        except PanelError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "cancel requested")
        return redirect(task)
