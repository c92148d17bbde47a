from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The HTTP API, shaped like Proxmox's /api2/json so that its clients can talk to the panel."""

    name = "api"
