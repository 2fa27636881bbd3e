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
# On PostgreSQL, the demo's pos-main database is Preflight's own, so backups, restore drills and
# WAL probes have a real server to work on (docs/backups.md).
ifneq ($(filter postgres://% postgresql://%,$(DATABASE_URL)),)
export LIQUOR_POS_DATABASE_URL ?= $(DATABASE_URL)
endif

.PHONY: help run test lint typecheck check-deploy benchmarks clean

help:
	@echo "make run    - set up, migrate, load the demo, serve web + worker + beat on http://127.0.0.1:$(PORT)"
	@echo "make test   - the whole suite against throwaway PostgreSQL and Redis, with a real Chromium"
	@echo "make lint   - ruff and mypy"

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --quiet
	@touch $@

run: $(VENV)/.synced
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start --no-colour -p $(PORT)

test: $(VENV)/.synced
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m scripts.throwaway -- $(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.synced
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf var .venv .tools .pytest_cache .mypy_cache .ruff_cache
