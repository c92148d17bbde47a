from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/guests/<vmid:vmid>/console/", consumers.GuestConsoleConsumer.as_asgi()),
    path("ws/guests/<vmid:vmid>/vnc/", consumers.GuestDisplayConsumer.as_asgi()),
    path("ws/nodes/<str:name>/shell/", consumers.NodeShellConsumer.as_asgi()),
]
