from django.apps import AppConfig


class GuestsConfig(AppConfig):
    name = "guests"

    def ready(self) -> None:
        from . import bulk, migrate, operations  # noqa: F401  (register the guest task types)
