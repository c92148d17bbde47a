from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/tasks/", consumers.TaskListConsumer.as_asgi()),
    path("ws/tasks/<str:upid>/log/", consumers.TaskLogConsumer.as_asgi()),
]
