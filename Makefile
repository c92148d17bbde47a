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
# The bridge this machine's VMs join (scripts/setup/services.sh makes it); empty for user networking.
export PANEL_VM_BRIDGE ?= panelbr0
# The test suite runs on PostgreSQL; `make run` uses SQLite unless DATABASE_URL is set.
TEST_DATABASE_URL ?= postgres://panel:panel@127.0.0.1:5432/panel

# supervisord's pid file, control socket and own log (supervisord/panel.conf).
export PANEL_RUN_DIR ?= $(CURDIR)/var/run
SUPERVISORD := $(VENV)/bin/supervisord
# Where `make run` serves (panel/settings/base.py: PANEL_LISTEN_ADDRESS, PANEL_PORT).
PANEL_URL = https://$${PANEL_LISTEN_ADDRESS:-127.0.0.1}:$${PANEL_PORT:-8006}

# The second node on this machine (scripts/setup/second-node.sh): own dockerd, libvirt session of panelnode2.
NODE2_DOCKER_URL := unix:///var/run/panel-node2/docker.sock
NODE2_STORAGE_DIR := /var/lib/panel-node2/images

.PHONY: run run-cluster test test-fast bench setup system services secrets venv templates db second-node lint clean

run: setup db
	@$(MANAGE) ensure_admin
	@echo "Panel at $(PANEL_URL) (certificate of the CA $${PANEL_PKI_DIR:-/etc/panel/pki}/ca.pem)"
	@echo "web and node worker below, each started again if it dies; stop all with Ctrl-C"
	exec $(SUPERVISORD) -c supervisord/panel.conf

test: setup
	$(VENV)/bin/ruff check .
	bash scripts/setup/second-node.sh  # the migration tests move guests to node2
	bash scripts/setup/services.sh postgres-db panel panel panel
	DATABASE_URL=$(TEST_DATABASE_URL) DJANGO_SETTINGS_MODULE=panel.settings.test $(PY) -m pytest $(PYTEST_ARGS)

# The fast set: everything except the tests that boot real VMs.
test-fast: PYTEST_ARGS += -m "not vm"
test-fast: test

# Speed targets, each printed as a ratio against a baseline measured in the same run (see bench/).
bench: setup
	bash scripts/setup/second-node.sh  # migrate-all moves containers to node2's dockerd
	bash scripts/setup/services.sh postgres-db panel_bench panel panel
	$(PY) -m bench

setup: system services secrets venv templates

# node2 on this machine, registered in the panel's database; start its worker with
# PANEL_NODE_NAME=node2 manage.py nodeworker (or use `make run-cluster`).
second-node: setup db
	uri=$$(bash scripts/setup/second-node.sh | tail -n 1); \
	$(MANAGE) register_node --name node2 --address 127.0.0.1 --libvirt-uri "$$uri" \
		--docker-url $(NODE2_DOCKER_URL) --accelerator qemu --storage-dir $(NODE2_STORAGE_DIR)

# Like `make run`, with node2 and its worker too (supervisord/cluster.conf).
run-cluster: second-node
	@$(MANAGE) ensure_admin
	@echo "Panel at $(PANEL_URL) with nodes $$(hostname -s) and node2 (stop all with Ctrl-C)"
	exec $(SUPERVISORD) -c supervisord/cluster.conf

system:
	bash scripts/setup/apt.sh

services:
	bash scripts/setup/services.sh

# Django's secret key and the TLS certificates, in /etc/panel (scripts/setup/secrets.sh).
secrets:
	bash scripts/setup/secrets.sh

templates:
	bash scripts/setup/templates.sh

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

db:
	mkdir -p var $(PANEL_RUN_DIR)
	$(MANAGE) migrate --noinput
	$(MANAGE) collectstatic --noinput --verbosity 0
	$(MANAGE) register_node

lint: venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) var
