from django.apps import AppConfig


class GuestsConfig(AppConfig):
    name = "guests"

    def ready(self) -> None:
        from . import operations  # noqa: F401  (registers the guest task types)
