"""Websocket routes of every app, gathered in one list."""

from cluster.routing import websocket_urlpatterns as cluster_routes
from consoles.routing import websocket_urlpatterns as console_routes
from tasks.routing import websocket_urlpatterns as task_routes

websocket_urlpatterns = [*task_routes, *cluster_routes, *console_routes]
