"""Settings shared by every environment; every deployment knob comes from the environment.

See README.md ("Settings") for the list of variables.
"""

import os
import socket
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)

# This machine's own files, outside the repository, made by scripts/setup/secrets.sh (`make setup`): Django's
# secret key and the TLS certificates of the ASGI server.
PANEL_ETC_DIR = Path(env("PANEL_ETC_DIR", default="/etc/panel"))
PANEL_SECRET_KEY_FILE = Path(env("PANEL_SECRET_KEY_FILE", default=str(PANEL_ETC_DIR / "secret-key")))
# Accepted with DJANGO_DEBUG only; panel.apps refuses to start on it (or on no key) otherwise.
DEVELOPMENT_SECRET_KEY = "dev-only-insecure-key-set-DJANGO_SECRET_KEY-in-production"


def secret_key(debug: bool) -> str:
    """DJANGO_SECRET_KEY, else the key kept in PANEL_SECRET_KEY_FILE, else the development key under DEBUG."""
    key = env("DJANGO_SECRET_KEY", default="")
    if not key and PANEL_SECRET_KEY_FILE.is_file():
        try:
            key = PANEL_SECRET_KEY_FILE.read_text().strip()
        except PermissionError as exc:
            raise ImproperlyConfigured(f"cannot read the secret key in {PANEL_SECRET_KEY_FILE}: {exc}") from exc
    return key or (DEVELOPMENT_SECRET_KEY if debug else "")


SECRET_KEY = secret_key(DEBUG)

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's and Redoc's files, served from here (no CDN)
    "django_celery_beat",
    "panel",
    "access",
    "nodes",
    "guests",
    "tasks",
    "metrics",
    "cluster",
    "consoles",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "panel.middleware.RefuseNulMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "access.audit.AuditAddressMiddleware",
    "panel.middleware.ServiceErrorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "panel.urls"
# Django's own admin at /admin/ (development); panel.settings.production turns it off unless enabled.
PANEL_DJANGO_ADMIN = env.bool("PANEL_DJANGO_ADMIN", default=True)
ASGI_APPLICATION = "panel.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "panel.context_processors.badges",
                "panel.context_processors.workspace",
            ],
        },
    },
]

# SQLite is the embedded default for one machine; a cluster shares PostgreSQL via DATABASE_URL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'panel.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # web, worker and beat write concurrently: WAL and immediate transactions avoid "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
# Connections are kept between requests and socket events (a new PostgreSQL connection costs milliseconds, tens
# on a busy host: the web's database thread paid one per socket event) and checked before reuse, so that a
# restarted database costs one failed check, not an error. Task threads of a worker close theirs at each end.
PANEL_DB_CONN_MAX_AGE = env.int("PANEL_DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_MAX_AGE"] = PANEL_DB_CONN_MAX_AGE
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["access.backends.ThrottledModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "datacenter"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TZ", default="UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "var" / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ProxmoxAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "api.params.ObjectJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "api.responses.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The OpenAPI description of /api2/json (api/schema.py), at /api2/openapi.json, with Swagger UI at /api2/docs/.
SPECTACULAR_SETTINGS = {
    "TITLE": "Panel: the Proxmox VE API",
    "DESCRIPTION": "The subset of Proxmox VE 9.1's /api2/json that the panel serves, in Proxmox's names and types.",
    "VERSION": "9.1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api2/json",
    "SCHEMA_PATH_PREFIX_TRIM": False,
    "PREPROCESSING_HOOKS": ["api.schema.only_the_api"],
    "POSTPROCESSING_HOOKS": ["api.schema.with_path_patterns"],
    "PATH_CONVERTER_OVERRIDES": {"vmid": {"type": "integer", "minimum": 100, "maximum": 999999999}},
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "DISABLE_ERRORS_AND_WARNINGS": True,
    # Its warnings are about views that declare no schema (they get a generic one); the document itself is
    # checked by tests/api/test_schema.py.
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
}

# Redis carries Celery's broker and the Channels layer.
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")


def channel_layers(redis_url: str, prefix: str = "asgi") -> dict:
    """channels-redis waits for a consumer's next message with a 5 s BZPOPMIN, and redis-py 8 reads with a
    5 s socket timeout by default: a socket quiet for 5 s died of "Timeout reading". Read longer.
    ``prefix`` keeps the groups of two panels sharing one Redis database apart."""
    # health_check_interval: a connection idle that long is checked before use, so the first socket after a
    # Redis restart gets a fresh connection instead of the dead one (an HTTP 500 at its handshake).
    host = {"address": redis_url, "socket_timeout": 30, "health_check_interval": 10}
    config = {"hosts": [host], "prefix": prefix}
    return {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": config}}


CHANNEL_LAYERS = channel_layers(REDIS_URL)

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_BROKER_TRANSPORT = "panel.broker:Transport"  # kombu's Redis transport, surviving a lost connection
CELERY_RESULT_BACKEND = None  # outcomes live in the Task rows
CELERY_TASK_IGNORE_RESULT = True
# Acknowledged when a worker starts it: the broker never hands a running task's message out again (however
# long it runs; Redis' visibility timeout is an hour). A task whose worker dies is failed from its row's lease,
# and one whose message was lost is sent again from its row (tasks/delivery.py, tasks/recovery.py).
CELERY_TASK_ACKS_LATE = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
# A broker outage crashes no process: the worker (and beat) retry the connection for as long as it takes, and
# the tasks running meanwhile go on (they are not cancelled); panel.broker holds their messages through it.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False

# -- Serving ------------------------------------------------------------------------------
# `manage.py serve` runs the ASGI server (daphne) like Proxmox's pveproxy: pages, websockets and the API on one
# HTTPS origin, port 8006, with the certificate set-up made (scripts/setup/secrets.sh) or the admin's own.
PANEL_LISTEN_ADDRESS = env("PANEL_LISTEN_ADDRESS", default="127.0.0.1")
PANEL_PORT = env.int("PANEL_PORT", default=8006)
# Off: plain HTTP, for development and the test suite's own servers only (production refuses it).
PANEL_TLS = env.bool("PANEL_TLS", default=True)
PANEL_PKI_DIR = Path(env("PANEL_PKI_DIR", default=str(PANEL_ETC_DIR / "pki")))  # ca.pem, node.pem and their keys
PANEL_TLS_CERT = Path(env("PANEL_TLS_CERT", default=str(PANEL_PKI_DIR / "node.pem")))
PANEL_TLS_KEY = Path(env("PANEL_TLS_KEY", default=str(PANEL_PKI_DIR / "node-key.pem")))
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = PANEL_TLS

# -- The panel ---------------------------------------------------------------------------
# The node this process runs on: a node worker serves only the queue node.<PANEL_NODE_NAME>.
PANEL_NODE_NAME = env("PANEL_NODE_NAME", default=socket.gethostname().split(".")[0].lower())
# How this machine's engines are reached when its node registers itself (`manage.py register_node`).
PANEL_NODE_ADDRESS = env("PANEL_NODE_ADDRESS", default="127.0.0.1")
PANEL_LIBVIRT_URI = env("PANEL_LIBVIRT_URI", default="qemu:///system")
PANEL_DOCKER_URL = env("PANEL_DOCKER_URL", default="unix:///var/run/docker.sock")
# kvm on real hosts; qemu (TCG software emulation) where KVM is missing or unusable.
PANEL_ACCELERATOR = env("PANEL_ACCELERATOR", default="kvm")
PANEL_STORAGE_DIR = env("PANEL_STORAGE_DIR", default="/var/lib/panel/images")
PANEL_TEMPLATE_DIR = env("PANEL_TEMPLATE_DIR", default="/var/lib/panel/templates")
# The host bridge VMs' NICs join (Proxmox's vmbr0); empty: QEMU user networking, which libvirt reports
# no traffic for. scripts/setup/services.sh makes panelbr0 on this machine.
PANEL_VM_BRIDGE = env("PANEL_VM_BRIDGE", default="")
# When set, only guests whose names start with it belong to this panel: two panels (or test runs) sharing
# one engine leave each other's guests alone. Empty: every guest of the engine is the panel's.
PANEL_GUEST_NAME_PREFIX = env("PANEL_GUEST_NAME_PREFIX", default="")
# Seconds between two inventory and usage polls of a node by its worker.
PANEL_POLL_INTERVAL = env.int("PANEL_POLL_INTERVAL", default=10)
# A node whose worker has not reported for this long is shown offline.
PANEL_NODE_OFFLINE_AFTER = env.int("PANEL_NODE_OFFLINE_AFTER", default=60)
# How often a web process with live subscribers looks for nodes that went silent (seconds).
PANEL_STATUS_WATCH_INTERVAL = env.int("PANEL_STATUS_WATCH_INTERVAL", default=5)
# Graceful shutdown waits this long (seconds) before the task reports a timeout.
PANEL_SHUTDOWN_TIMEOUT = env.int("PANEL_SHUTDOWN_TIMEOUT", default=180)
# A running task's worker process renews its lease every PANEL_TASK_LEASE / 4 s; a task whose lease is older
# than PANEL_TASK_LEASE s is failed by any node's poll: its worker is gone.
PANEL_TASK_LEASE = env.int("PANEL_TASK_LEASE", default=60)
# A task the broker could not take (Redis down) is handed over by its node's collector when the broker is
# back, or failed, freeing its guest, once it has waited this long (seconds).
PANEL_TASK_SEND_TIMEOUT = env.int("PANEL_TASK_SEND_TIMEOUT", default=300)

# The login throttle (access/throttle.py), for every way in: after PANEL_LOGIN_FREE_TRIES failures of one
# user name within PANEL_LOGIN_WINDOW seconds, each try waits PANEL_LOGIN_DELAY s, doubled per further failure
# up to PANEL_LOGIN_MAX_DELAY; one client address may fail PANEL_LOGIN_ADDRESS_LIMIT times per window.
PANEL_LOGIN_WINDOW = env.int("PANEL_LOGIN_WINDOW", default=900)
PANEL_LOGIN_FREE_TRIES = env.int("PANEL_LOGIN_FREE_TRIES", default=5)
PANEL_LOGIN_DELAY = env.float("PANEL_LOGIN_DELAY", default=2.0)
PANEL_LOGIN_MAX_DELAY = env.float("PANEL_LOGIN_MAX_DELAY", default=300.0)
PANEL_LOGIN_ADDRESS_LIMIT = env.int("PANEL_LOGIN_ADDRESS_LIMIT", default=50)
# Proxies whose X-Forwarded-For names the client (only then is the header believed).
PANEL_TRUSTED_PROXIES = env.list("PANEL_TRUSTED_PROXIES", default=[])

# Websockets one user may keep open in one web process.
PANEL_MAX_SOCKETS_PER_USER = env.int("PANEL_MAX_SOCKETS_PER_USER", default=100)

# Audit rows of nobody (failed logins, bad tokens: anyone can cause them) kept at the most.
PANEL_AUDIT_ANONYMOUS_ROWS = env.int("PANEL_AUDIT_ANONYMOUS_ROWS", default=10_000)
# The largest file POST /nodes/{node}/storage/local/upload takes (an ISO image or a container template).
PANEL_UPLOAD_MAX_BYTES = env.int("PANEL_UPLOAD_MAX_BYTES", default=16 * 1024**3)

# /status, the read-only cluster status page, is public (no login) when on.
PANEL_PUBLIC_STATUS = env.bool("PANEL_PUBLIC_STATUS", default=True)

# Tasks a node's worker runs at once, each in a thread of its one process (their engine calls wait on I/O).
PANEL_WORKER_CONCURRENCY = env.int("PANEL_WORKER_CONCURRENCY", default=8)
# Guests of one startup-order group started or stopped in parallel by start-all / stop-all
# (Proxmox: min(CPUs - 1, 8)).
PANEL_BULK_WORKERS = env.int("PANEL_BULK_WORKERS", default=max(1, min((os.cpu_count() or 2) - 1, 8)))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
