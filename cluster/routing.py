from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/cluster/resources/", consumers.ResourcesConsumer.as_asgi()),
]
