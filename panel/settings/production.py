"""Production: a real secret key, HTTPS only, cookies and transport locked down, Django's admin off."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import PANEL_TLS, env, secret_key

DEBUG = False
SECRET_KEY = secret_key(debug=False)  # DJANGO_SECRET_KEY or the key file; never the development key

# The ASGI server itself serves HTTPS on PANEL_PORT (`manage.py serve`); there is no plain-HTTP listener.
if not PANEL_TLS:
    raise ImproperlyConfigured("panel.settings.production serves HTTPS only: PANEL_TLS may not be turned off")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# With no plain-HTTP listener and no proxy in front, every request arrives over TLS and the redirect never
# fires; it stays on so that a plain listener added later redirects instead of serving the panel in clear.
# No proxy header is trusted (SECURE_PROXY_SSL_HEADER is unset): the scheme is the server's own.
SECURE_SSL_REDIRECT = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True

# Django's admin bypasses the panel's own permissions and audit log: off unless the admin enables it.
PANEL_DJANGO_ADMIN = env.bool("PANEL_DJANGO_ADMIN", default=False)
