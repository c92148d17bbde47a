from django.urls import path

from . import views

urlpatterns = [
    path("", views.TaskListView.as_view(), name="task_list"),
    path("<str:upid>/", views.TaskDetailView.as_view(), name="task_detail"),
    path("<str:upid>/cancel/", views.TaskCancelView.as_view(), name="task_cancel"),
]
