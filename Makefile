# Setroom build scaffolding (GNU make).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
PYTEST_ARGS ?=
RUN_ARGS ?=
SOAK_ARGS ?=

# Debian packages the tests need, as package:binary pairs (a binary may be a name on PATH
# or an absolute path). postgresql: scripts/with-postgres finds its server binaries under
# /usr/lib/postgresql/*/bin; pg_ctlcluster comes with them.
SYSTEM_DEPS := chromium:/usr/bin/chromium redis-server:redis-server postgresql:pg_ctlcluster

.PHONY: help venv .venv node_modules system-deps run lint test bench soak clean

help:
	@echo "Targets:"
	@echo "  .venv          create .venv and install the project with [dev] extras"
	@echo "  node_modules   npm ci (front-end assets)"
	@echo "  system-deps    apt-get install missing Debian packages ($(foreach d,$(SYSTEM_DEPS),$(firstword $(subst :, ,$(d)))))"
	@echo "  run            start the app on 127.0.0.1:8000 (RUN_ARGS=...)"
	@echo "  lint           ruff check, ruff format --check, mypy"
	@echo "  test           lint, pytest on SQLite, then on a throwaway PostgreSQL (PYTEST_ARGS=...)"
	@echo "  bench          python -m bench"
	@echo "  soak           python -m bench.soak: 10 minutes, two workers + Redis (SOAK_ARGS=...)"
	@echo "  clean          remove venv, node_modules, caches (keeps var/)"

# --- Python virtualenv -------------------------------------------------------------------

venv .venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -e '.[dev]'
	touch $@

# --- Front-end assets --------------------------------------------------------------------

node_modules: $(NODE_STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# --- Debian packages ---------------------------------------------------------------------

system-deps:
	@missing=""; \
	for dep in $(SYSTEM_DEPS); do \
	  pkg="$${dep%%:*}"; bin="$${dep#*:}"; \
	  command -v "$$bin" >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "system-deps: installing$$missing"; \
	  apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	else \
	  echo "system-deps: missing Debian packages:$$missing" >&2; \
	  echo "system-deps: install them as root: apt-get install --no-install-recommends$$missing" >&2; \
	  exit 1; \
	fi

# --- Everyday targets --------------------------------------------------------------------

run: .venv node_modules
	mkdir -p var
	exec $(VENV)/bin/python -m app --demo $(RUN_ARGS)

lint: .venv
	$(VENV)/bin/ruff check app tests
	$(VENV)/bin/ruff format --check app tests
	$(VENV)/bin/mypy

# The suite runs on SQLite, then its database-backed part (tests/integration) again on a
# throwaway PostgreSQL server (a fresh database per test). The unit tests touch no database and
# the e2e tests drive Chromium through the same web and storage code that the integration tests
# already exercise on PostgreSQL, so they run once.
test: .venv node_modules system-deps lint
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)
	scripts/with-postgres $(VENV)/bin/python -m pytest tests/integration -m "not e2e" $(PYTEST_ARGS)

bench: .venv node_modules
	mkdir -p var
	$(VENV)/bin/python -m bench

soak: .venv node_modules
	$(VENV)/bin/python -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) node_modules build dist *.egg-info test-artifacts \
	  .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
