from django.shortcuts import get_object_or_404
from django.views.generic import ListView, TemplateView

from access import permissions
from panel.views import PanelPageMixin

from .models import Task


class TaskListView(PanelPageMixin, ListView):
    template_name = "tasks/task_list.html"
    context_object_name = "tasks"
    paginate_by = 50

    def get_queryset(self):
        return permissions.visible_tasks(self.request.user, Task.objects.select_related("node", "user"))


class TaskDetailView(PanelPageMixin, TemplateView):
    template_name = "tasks/task_detail.html"

    def get_context_data(self, **kwargs: object) -> dict:
        queryset = permissions.visible_tasks(self.request.user, Task.objects.select_related("node", "user"))
        task = get_object_or_404(queryset, upid=kwargs["upid"])
        return super().get_context_data(task=task, log_lines=task.log_lines.all(), **kwargs)
