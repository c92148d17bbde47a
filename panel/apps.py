from django.apps import AppConfig


class PanelConfig(AppConfig):
    """Project-wide pieces: shared template filters and set-up commands."""

    name = "panel"
