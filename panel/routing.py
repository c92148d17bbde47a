"""Websocket routes of every app, gathered in one list."""

from metrics.routing import websocket_urlpatterns as metrics_routes
from tasks.routing import websocket_urlpatterns as task_routes

websocket_urlpatterns = [*task_routes, *metrics_routes]
