# Two commands do all the set-up: `make run` and `make test` (see README.md).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
PORT ?= 8000
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin
# uv must use the Python named in .python-version; it cannot download one here.
export UV_PYTHON_DOWNLOADS := never
# Honcho gives each process its own PORT; checks that call Preflight itself need the web one.
export PREFLIGHT_BASE_URL ?= http://127.0.0.1:$(PORT)
# On PostgreSQL, the demo's pos-main is a Liquor POS database of its own on Preflight's server
# (<Preflight's database>_liquor_pos, which load_demo writes), so backups, restore drills, WAL
# probes and migration rehearsals have a real server and real rows to work on, never Preflight's
# own tables (docs/backups.md). Set LIQUOR_POS_DATABASE_URL to name another.
# The backups Preflight takes there are encrypted (the demo's BK-004), with a key generated once
# per checkout in var/backup-key unless PREFLIGHT_BACKUP_KEY (or its _FILE) names one.
ifneq ($(filter postgres://% postgresql://%,$(DATABASE_URL)),)
ifeq ($(origin LIQUOR_POS_DATABASE_URL),undefined)
export LIQUOR_POS_DATABASE_URL := $(shell $(PYTHON) scripts/pos_database_url.py '$(DATABASE_URL)')
endif
ifeq ($(origin PREFLIGHT_BACKUP_KEY)$(origin PREFLIGHT_BACKUP_KEY_FILE),undefinedundefined)
export PREFLIGHT_BACKUP_KEY_FILE := $(CURDIR)/var/backup-key
RUN_KEY := var/backup-key
endif
endif

.PHONY: help run test lint benchmarks clean compose-secrets

help:
	@echo "make run    - set up, migrate, load the demo, serve web + worker + beat on http://127.0.0.1:$(PORT)"
	@echo "make test   - the whole suite against throwaway PostgreSQL and Redis, with a real Chromium"
	@echo "make lint   - ruff, mypy and the floor plan (lint-imports)"
	@echo "make benchmarks - every script in benchmarks/, each against its own baseline"

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --quiet
	@touch $@

run: $(VENV)/.synced $(RUN_KEY)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo
	@echo "Preflight is starting on http://127.0.0.1:$(PORT)/ — log in as one of the people above; Ctrl-C stops it."
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start --no-colour -p $(PORT)

test: $(VENV)/.synced
	$(UV) lock --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m scripts.throwaway -- $(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.synced
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Each benchmark measures against a baseline taken in the same run and prints the ratio.
benchmarks: $(VENV)/.synced
	$(BIN)/python -m scripts.throwaway -- $(BIN)/python -m benchmarks.runs
	$(BIN)/python -m scripts.throwaway -- $(BIN)/python -m benchmarks.scoring
	$(BIN)/python -m benchmarks.api
	$(BIN)/python -m scripts.throwaway -- $(BIN)/python benchmarks/audit_log.py
	$(BIN)/python -m scripts.throwaway -- $(BIN)/python benchmarks/drill.py
	$(BIN)/python -m scripts.throwaway -- $(BIN)/python benchmarks/rehearsal.py
	$(BIN)/python -m scripts.throwaway -- $(BIN)/python -m benchmarks.scale $(SCALE_ARGS)

var/backup-key:
	@mkdir -p var && umask 077 && $(PYTHON) -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())' > $@

# var/ holds the SQLite database and, with it, the audit anchors and their key (one store per
# installation: a new database must not be checked against the old one's anchors).
clean:
	rm -rf var .venv .tools .pytest_cache .mypy_cache .ruff_cache

# Random secrets for docker-compose.yml, written once into ./secrets/ (git-ignored).
compose-secrets:
	@mkdir -p secrets && chmod 700 secrets
	@test -s secrets/secret_key || $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))' > secrets/secret_key
	@test -s secrets/postgres_password || $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(24))' > secrets/postgres_password
	@test -s secrets/database_url || echo "postgres://preflight:$$(cat secrets/postgres_password)@postgres:5432/preflight" > secrets/database_url
	@test -s secrets/audit_anchor_key || $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))' > secrets/audit_anchor_key
	@test -s secrets/metrics_token || $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(32))' > secrets/metrics_token
	@test -s secrets/backup_key || $(PYTHON) -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())' > secrets/backup_key
	@chmod 600 secrets/*
	@echo "secrets written to ./secrets/"
