"""Websocket routes of every app, gathered in one list."""

from tasks.routing import websocket_urlpatterns as task_routes

websocket_urlpatterns = [*task_routes]
