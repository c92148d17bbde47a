"""docker-compose.yml describes a deployment whose every command exists in this project."""

from __future__ import annotations

import importlib
import os
import shlex
import subprocess
from pathlib import Path

import yaml
from django.core.management import get_commands

from tests.support import ROOT

SERVICES = {"web", "worker", "redis", "postgres"}


def compose_config_of(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config"], cwd=ROOT, env=env,
                          capture_output=True, text=True)


def compose_config() -> dict:
    result = compose_config_of({**os.environ, "DJANGO_SECRET_KEY": "compose-check", "POSTGRES_PASSWORD": "check"})
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def command_words(service: dict) -> list[str]:
    command = service["command"]
    words = shlex.split(command) if isinstance(command, str) else list(command)
    if words[:2] == ["sh", "-c"]:
        words = shlex.split(words[2].replace("&&", ";"))
    return words


def check_command(words: list[str]) -> None:
    """Every program the services run is one of ours, with targets that exist."""
    for index, word in enumerate(words):
        if word == "manage.py":
            assert words[index + 1] in get_commands(), f"unknown management command {words[index + 1]}"
        elif word == "daphne":
            target = next(w for w in words[index + 1:] if ":" in w)
            module, attribute = target.split(":")
            assert hasattr(importlib.import_module(module), attribute), target
        elif word == "celery":
            app = words[words.index("-A") + 1]
            assert hasattr(importlib.import_module(app), "celery_app"), app


def test_compose_file_is_valid_and_complete() -> None:
    config = compose_config()
    assert set(config["services"]) >= SERVICES
    for name in ("web", "worker"):
        service = config["services"][name]
        assert service["build"]["context"] == str(ROOT)
        check_command(command_words(service))
        assert service["environment"]["DJANGO_SETTINGS_MODULE"] == "panel.settings.production"
        assert service["init"] is True, name  # tini as PID 1: signals forwarded, the pool's children reaped
    assert config["services"]["worker"]["environment"]["PANEL_NODE_NAME"]
    assert "exec python manage.py serve" in config["services"]["web"]["command"][2]  # PID 1's signals reach it
    assert config["services"]["web"]["ports"][0]["target"] == 8006


def test_every_compose_service_is_restarted_when_it_exits() -> None:
    for name, service in compose_config()["services"].items():
        assert service["restart"] == "unless-stopped", name


def test_compose_requires_the_database_password_and_the_secret_key() -> None:
    for missing, given in (("POSTGRES_PASSWORD", "DJANGO_SECRET_KEY"), ("DJANGO_SECRET_KEY", "POSTGRES_PASSWORD")):
        env = {key: value for key, value in os.environ.items() if key != missing}
        result = compose_config_of({**env, given: "x"})
        assert result.returncode != 0 and f"set {missing}" in result.stderr, result.stdout + result.stderr
    assert "panel:panel@" not in (ROOT / "docker-compose.yml").read_text()


def test_supervised_commands_exist() -> None:
    """The programs `make run` and `make run-cluster` supervise are ours, with targets that exist."""
    for config in ("panel.conf", "cluster.conf"):
        text = (ROOT / "supervisord" / config).read_text()
        for line in text.splitlines():
            if line.startswith("command = "):
                words = [Path(w).name if "/.venv/" in w else w for w in shlex.split(line.removeprefix("command = "))]
                assert (ROOT / ".venv" / "bin" / words[0]).exists(), words[0]
                check_command(words)


def test_production_settings_pass_deploy_checks() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "panel.settings.production",
           "DJANGO_SECRET_KEY": "x" * 64 + "-production-check-key-with-enough-entropy",
           "DATABASE_URL": "sqlite:////tmp/panel-deploy-check.sqlite3"}
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
