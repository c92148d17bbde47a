from django.urls import path

from . import live

websocket_urlpatterns = [
    path("ws/cluster/resources/", live.ResourcesConsumer.as_asgi()),
]
