"""Test settings: the suite runs on PostgreSQL, real Redis and real engines (see Makefile).

Every run is isolated from every other run on the machine (and from a panel started with `make run`) by
its run id, PANEL_TEST_RUN: its database, node names, Redis keys, storage directories and guest names
carry it. The first process of a run picks it; the worker and server processes it starts inherit it.
"""

import os
import secrets

from .base import *  # noqa: F403
from .base import channel_layers, env

TEST_RUN = os.environ.setdefault("PANEL_TEST_RUN", secrets.token_hex(3))
SECRET_KEY = env("DJANGO_SECRET_KEY", default=f"test-only-secret-key-of-run-{TEST_RUN}-never-used-outside-the-suite")

DATABASES = {"default": env.db("DATABASE_URL", default="postgres://panel:panel@127.0.0.1:5432/panel")}
DATABASES["default"]["TEST"] = {"NAME": f"test_panel_{TEST_RUN}"}
# The suite's own process closes its connections (the test database is dropped at the end, and a thread of
# database_sync_to_async would keep one open); the servers and workers it starts keep theirs (tests/support.py).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("PANEL_DB_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# A Redis database of its own, and this run's keys and groups apart from every other run's.
REDIS_URL = env("TEST_REDIS_URL", default="redis://127.0.0.1:6379/9")
CELERY_BROKER_URL = REDIS_URL
# A test of redelivery gives kombu's Redis options (visibility_timeout, unacked_restore_interval...) as JSON.
CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"test-{TEST_RUN}:",
                                   **env.json("TEST_BROKER_TRANSPORT_OPTIONS", default={})}
CHANNEL_LAYERS = channel_layers(REDIS_URL, prefix=f"test-{TEST_RUN}")
PANEL_NODE_NAME = env("PANEL_NODE_NAME", default=f"test-{TEST_RUN}")
# Guests of this run only: another run's, or `make run`'s, on the same engines are none of its business.
PANEL_GUEST_NAME_PREFIX = f"pt{TEST_RUN}-"
PANEL_ACCELERATOR = "qemu"
PANEL_VM_BRIDGE = env("PANEL_VM_BRIDGE", default="panelbr0")  # made by scripts/setup/services.sh
PANEL_STORAGE_DIR = env("PANEL_STORAGE_DIR", default=f"/var/lib/panel/test-images/{TEST_RUN}")
PANEL_SHUTDOWN_TIMEOUT = 20
# The suite's own servers speak plain HTTP (tests/support.serve_asgi) unless a test asks for TLS.
PANEL_TLS = env.bool("PANEL_TLS", default=False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = PANEL_TLS
# Serve static files straight from static/ (no collectstatic before the suite).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
