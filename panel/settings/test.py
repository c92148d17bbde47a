"""Test settings: the suite runs on PostgreSQL, real Redis and real engines (see Makefile)."""

from .base import *  # noqa: F403
from .base import channel_layers, env

DATABASES = {"default": env.db("DATABASE_URL", default="postgres://panel:panel@127.0.0.1:5432/panel")}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# A Redis database and a node of their own, so tests never meet a panel started with `make run`.
REDIS_URL = env("TEST_REDIS_URL", default="redis://127.0.0.1:6379/9")
CELERY_BROKER_URL = REDIS_URL
CHANNEL_LAYERS = channel_layers(REDIS_URL)
PANEL_NODE_NAME = env("PANEL_NODE_NAME", default="testnode")
PANEL_ACCELERATOR = "qemu"
PANEL_VM_BRIDGE = env("PANEL_VM_BRIDGE", default="panelbr0")  # made by scripts/setup/services.sh
PANEL_STORAGE_DIR = env("PANEL_STORAGE_DIR", default="/var/lib/panel/test-images")
PANEL_SHUTDOWN_TIMEOUT = 20
# Serve static files straight from static/ (no collectstatic before the suite).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
