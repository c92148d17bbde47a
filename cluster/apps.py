from django.apps import AppConfig


class ClusterConfig(AppConfig):
    """The cluster's read models: its resources, summaries and status, and the live socket that pushes them."""

    name = "cluster"
