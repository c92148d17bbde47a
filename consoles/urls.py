from django.urls import path

from . import views

# Before the guests' and nodes' own patterns, whose "<vmid>/<action>/" and "nodes/<name>/<action>/" would
# take "console" and "shell" for actions.
urlpatterns = [
    path("guests/<vmid:vmid>/console/", views.GuestConsoleView.as_view(), name="guest_console"),
    path("guests/<vmid:vmid>/vnc/", views.GuestDisplayView.as_view(), name="guest_display"),
    path("nodes/<str:name>/shell/", views.NodeShellView.as_view(), name="node_shell"),
]
