# `make run` and `make test` set up everything that is missing, then run. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := run

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MANAGE := $(PY) manage.py

# KVM on a real host; QEMU software emulation (TCG) where KVM is missing or unusable, as on CI.
export PANEL_ACCELERATOR ?= qemu
# The test suite runs on PostgreSQL; `make run` uses SQLite unless DATABASE_URL is set.
TEST_DATABASE_URL ?= postgres://panel:panel@127.0.0.1:5432/panel

.PHONY: run test test-fast bench setup system services venv templates db lint clean

run: setup db
	@$(MANAGE) ensure_admin
	@echo "Panel at http://127.0.0.1:8000 (web, node worker and beat below; stop with Ctrl-C)"
	exec $(VENV)/bin/honcho start -f Procfile

test: setup
	bash scripts/setup/services.sh postgres-db panel panel panel
	DATABASE_URL=$(TEST_DATABASE_URL) DJANGO_SETTINGS_MODULE=panel.settings.test $(PY) -m pytest $(PYTEST_ARGS)

# The fast set: everything except the tests that boot real VMs.
test-fast: PYTEST_ARGS += -m "not vm"
test-fast: test

# Speed targets, each printed as a ratio against a baseline measured in the same run (see bench/).
bench: setup
	bash scripts/setup/services.sh postgres-db panel_bench panel panel
	$(PY) -m bench

setup: system services venv templates

system:
	bash scripts/setup/apt.sh

services:
	bash scripts/setup/services.sh

templates:
	bash scripts/setup/templates.sh

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

db:
	mkdir -p var
	$(MANAGE) migrate --noinput
	$(MANAGE) collectstatic --noinput --verbosity 0
	$(MANAGE) register_node

lint: venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) var
