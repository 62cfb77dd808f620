# Two commands for a newcomer: `make demo` and `make test`. Both are idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/postgres
DEMO_DIR ?= media/demo-models
# Tests bring their own keys (tests/conftest.py); the demo runs with DJANGO_DEBUG=1, the only
# mode that uses the published dev-only keys.

RUFF := $(VENV)/bin/ruff

.PHONY: demo test test-fast test-js lint format system deps serve bench contact-sheet clean

system:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -e /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf ] || missing="$$missing fonts-liberation"; \
	ldconfig -p 2>/dev/null | grep -q libmagic.so.1 || missing="$$missing libmagic1"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null || \
	      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; }; \
	  else \
	    echo "Missing Debian packages:$$missing (run: sudo apt-get install -y$$missing)"; exit 1; \
	  fi; \
	fi

$(VENV)/.installed: pyproject.toml
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: system $(VENV)/.installed node_modules/.installed

demo: deps
	DJANGO_DEBUG=1 $(PY) manage.py migrate --noinput -v0
	DJANGO_DEBUG=1 $(PY) manage.py createcachetable
	DJANGO_DEBUG=1 $(PY) manage.py setup_demo --models-dir $(DEMO_DIR)
	DJANGO_DEBUG=1 $(PY) manage.py runserver $(HOST):$(PORT)

# Full suite: the JavaScript unit tests (Node, no browser), then pytest on SQLite (browser tests
# included), then the database tests again on PostgreSQL when a server answers on 127.0.0.1:5432.
# Sample models are generated at test time; ../shared/fixtures (or the folder named by
# ICOSA_SHARED_FIXTURES) adds real third-party files when present.
test: deps test-js
	$(PY) -m pytest
	@if $(PY) -c "import psycopg,sys; psycopg.connect('$(PG_URL)', connect_timeout=3).close()" 2>/dev/null; then \
	  echo "== PostgreSQL at $(PG_URL): database tests"; \
	  DATABASE_URL=$(PG_URL) $(PY) -m pytest -m "not browser"; \
	else \
	  echo "== PostgreSQL not reachable at $(PG_URL): skipped the PostgreSQL pass"; \
	fi

test-fast: deps
	$(PY) -m pytest -m "not browser" -x -q

# node:test files under tests/js/, named *.test.mjs or *.test.js (listed explicitly: Node 20
# and later Node versions read a bare folder argument differently).
JS_TESTS = $(shell [ -d tests/js ] && find tests/js -name '*.test.mjs' -o -name '*.test.js' | sort)
test-js: node_modules/.installed
	@if [ -n "$(JS_TESTS)" ]; then node --test $(JS_TESTS); else echo "== no JavaScript tests in tests/js"; fi

lint: $(VENV)/.installed
	$(RUFF) check .
	$(RUFF) format --check .

# Rewrites the tree: safe lint fixes, then the formatter. What is left, `make lint` names.
format: $(VENV)/.installed
	$(RUFF) check --fix --exit-zero .
	$(RUFF) format .

bench: deps
	$(PY) bench/headless_throughput.py
	$(PY) bench/renderer_memory.py
	$(PY) bench/api_upload.py
	$(PY) bench/api_list_latency.py

# The README's picture of the thumbnails: every fixture (generated, plus ../shared's when present)
# imported into a throwaway database, rendered headless, tiled by `manage.py contact_sheet`.
contact-sheet: deps
	$(PY) docs/fixture_contact_sheet.py --out docs/contact-sheet.jpg

clean:
	rm -rf $(VENV) node_modules staticfiles .pytest_cache
