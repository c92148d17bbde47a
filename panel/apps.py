from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class PanelConfig(AppConfig):
    """Project-wide pieces: shared template filters, set-up commands, and the checks every process starts with."""

    name = "panel"

    def ready(self) -> None:
        from django.urls import register_converter

        from .converters import BoundedInt, GuestKindPath, RowId

        # Every process (server, worker, beat, manage.py) sets Django up and so passes here before it serves.
        check_secret_key()
        register_converter(BoundedInt, "vmid")  # numbers in URLs within the columns' range
        register_converter(RowId, "id")
        register_converter(GuestKindPath, "guestkind")  # qemu or lxc


def check_secret_key() -> None:
    """Refuse to run without a secret key, or on the development key outside DEBUG (anyone could sign sessions)."""
    from .settings.base import DEVELOPMENT_SECRET_KEY

    try:
        key = settings.SECRET_KEY  # Django refuses an empty one as it is read
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured(
            f"no secret key: set DJANGO_SECRET_KEY or make {settings.PANEL_SECRET_KEY_FILE} "
            "(`make setup` or scripts/setup/secrets.sh does)"
        ) from exc
    if key == DEVELOPMENT_SECRET_KEY and not settings.DEBUG:
        raise ImproperlyConfigured("the development secret key is refused outside DEBUG: set DJANGO_SECRET_KEY")
