"""Deployment settings, checked in fresh processes as a deployment starts them: secret key, admin, HTTPS only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from panel.settings.base import DEVELOPMENT_SECRET_KEY
from tests.support import ROOT, run_secrets_script

# What the test process has that a deployment would not: the suite's own key, DEBUG, the settings module.
CLEARED = ("DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DJANGO_SETTINGS_MODULE", "PANEL_SECRET_KEY_FILE", "PANEL_TLS",
           "PANEL_DJANGO_ADMIN")


def run(args: list[str], settings: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """A command in a fresh process with ``settings``, no key in the environment and no key file by default."""
    base = {key: value for key, value in os.environ.items() if key not in CLEARED}
    base.update(DJANGO_SETTINGS_MODULE=settings, PANEL_SECRET_KEY_FILE=str(tmp_path / "no-such-key"),
                DATABASE_URL=f"sqlite:///{tmp_path / 'check.sqlite3'}")
    return subprocess.run(args, cwd=ROOT, env={**base, **env}, capture_output=True, text=True)


def check(settings: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return run([sys.executable, "manage.py", "check"], settings, tmp_path, **env)


def shell(code: str, settings: str, tmp_path: Path, **env: str) -> str:
    result = run([sys.executable, "manage.py", "shell", "--no-imports", "-c", code], settings, tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("settings", ["panel.settings.base", "panel.settings.production"])
def test_no_secret_key_is_refused_outside_debug(settings: str, tmp_path: Path) -> None:
    result = check(settings, tmp_path)
    assert result.returncode != 0 and "no secret key" in result.stderr, result.stderr


@pytest.mark.parametrize("settings", ["panel.settings.base", "panel.settings.production"])
def test_the_development_key_is_refused_outside_debug(settings: str, tmp_path: Path) -> None:
    result = check(settings, tmp_path, DJANGO_SECRET_KEY=DEVELOPMENT_SECRET_KEY)
    assert result.returncode != 0 and "development secret key is refused" in result.stderr, result.stderr


def test_the_development_key_is_refused_by_the_server_and_the_worker_too(tmp_path: Path) -> None:
    """Not only manage.py: the ASGI application and the Celery worker set Django up and refuse it as well."""
    server = run([sys.executable, "-c", "import panel.asgi"], "panel.settings.base", tmp_path)
    assert server.returncode != 0 and "no secret key" in server.stderr, server.stderr
    worker = run([sys.executable, "-m", "celery", "-A", "panel", "worker", "--pool", "solo", "-Q", "nothing"],
                 "panel.settings.base", tmp_path)
    assert worker.returncode != 0 and "no secret key" in worker.stdout + worker.stderr, worker.stderr


def test_debug_alone_may_use_the_development_key(tmp_path: Path) -> None:
    assert check("panel.settings.base", tmp_path, DJANGO_DEBUG="true").returncode == 0
    code = "from django.conf import settings; print(settings.SECRET_KEY == settings.DEVELOPMENT_SECRET_KEY)"
    assert shell(code, "panel.settings.base", tmp_path, DJANGO_DEBUG="true") == "True"
    # production ignores DJANGO_DEBUG
    result = check("panel.settings.production", tmp_path, DJANGO_DEBUG="true")
    assert result.returncode != 0 and "no secret key" in result.stderr, result.stderr


def test_a_plain_make_run_uses_the_key_set_up_keeps(tmp_path: Path) -> None:
    """scripts/setup/secrets.sh (part of `make setup`) makes a private key file that the settings read."""
    assert run_secrets_script(tmp_path).returncode == 0
    key_file = tmp_path / "secret-key"
    assert key_file.stat().st_mode & 0o777 == 0o600 and len(key_file.read_text()) >= 50
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    for settings in ("panel.settings.base", "panel.settings.production"):
        assert shell(code, settings, tmp_path, PANEL_SECRET_KEY_FILE=str(key_file)) == key_file.read_text()
    assert check("panel.settings.base", tmp_path, PANEL_SECRET_KEY_FILE=str(key_file)).returncode == 0


def test_djangos_admin_is_off_in_production_unless_enabled(tmp_path: Path) -> None:
    code = ("from django.urls import resolve, Resolver404\n"
            "try:\n    print(resolve('/admin/').app_name)\nexcept Resolver404:\n    print('not mounted')")
    key = {"DJANGO_SECRET_KEY": "k" * 60}
    assert shell(code, "panel.settings.production", tmp_path, **key) == "not mounted"
    assert shell(code, "panel.settings.production", tmp_path, PANEL_DJANGO_ADMIN="true", **key) == "admin"
    assert shell(code, "panel.settings.base", tmp_path, **key) == "admin"  # development keeps it


def test_production_serves_https_only(tmp_path: Path) -> None:
    result = check("panel.settings.production", tmp_path, DJANGO_SECRET_KEY="k" * 60, PANEL_TLS="false")
    assert result.returncode != 0 and "serves HTTPS only" in result.stderr, result.stderr
    code = ("from django.conf import settings; print(settings.PANEL_TLS, settings.SESSION_COOKIE_SECURE, "
            "settings.CSRF_COOKIE_SECURE, settings.SECURE_HSTS_SECONDS > 0, settings.SECURE_PROXY_SSL_HEADER)")
    assert shell(code, "panel.settings.production", tmp_path, DJANGO_SECRET_KEY="k" * 60) == "True True True True None"
