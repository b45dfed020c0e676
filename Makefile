# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# .venv is built with the newest Python >= 3.12 found (Django 6 and its django.tasks need
# 3.12+; python3 if there is none); .venv311 with Python 3.11, Django 4.2-5.2 and the
# django-tasks backport, for the second test run (.venv42: the same with Django 4.2).
PY ?= $(shell .ci/find-python 3.12)
PY311 ?= $(shell .ci/find-python 3.11 3.11)
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/postgres
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENV311 := .venv311
BIN311 := $(VENV311)/bin
STAMP311 := $(VENV311)/.installed
VENV42 := .venv42
STAMP42 := $(VENV42)/.installed

.PHONY: demo test test-js test-postgres test311 test42 lint bench chaos chromium clean

$(STAMP): pyproject.toml
	@if [ -x $(BIN)/python ] && [ "$$($(BIN)/python -c 'import sys; print(sys.version_info < (3, 12))')" = True ] \
		&& [ "$$($(PY) -c 'import sys; print(sys.version_info >= (3, 12))')" = True ]; then \
		echo "rebuilding $(VENV) with $(PY) (Python >= 3.12)"; rm -rf $(VENV); fi
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

$(STAMP311): pyproject.toml
	test -d $(VENV311) || $(PY311) -m venv $(VENV311)
	$(BIN311)/pip install -q --upgrade pip
	$(BIN311)/pip install -q -e '.[dev]' 'django>=4.2,<6'
	touch $(STAMP311)

$(STAMP42): pyproject.toml
	test -d $(VENV42) || $(PY311) -m venv $(VENV42)
	$(VENV42)/bin/pip install -q --upgrade pip
	$(VENV42)/bin/pip install -q -e '.[dev]' 'django>=4.2,<4.3'
	touch $(STAMP42)

demo: $(STAMP)
	$(BIN)/python -m example_project.demo

lint: $(STAMP)
	$(BIN)/ruff check celery_actions tests benchmarks chaos example_project
	$(BIN)/ruff format --check celery_actions tests benchmarks chaos example_project
	$(BIN)/mypy

# The whole suite on SQLite, the Django tests again on PostgreSQL (skipped, saying why,
# when it is not there), then both on Python 3.11 with Django 5.2 and the backport, and on
# Django 4.2 (the oldest supported).
# The browser tests drive Debian's Chromium (Playwright's own browser download is not used).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "chromium is missing: sudo apt-get install -y chromium" >&2; exit 1; fi; }

test: lint chromium
	$(BIN)/pytest -q
	$(MAKE) test-js test-postgres test311 test42

# The browser client (celery_actions/django/static/celery_actions) with node's test runner;
# React (the hooks' peer) from the npm registry, pinned by tests/js/package-lock.json.
test-js:
	cd tests/js && npm ci --no-audit --no-fund --silent && node --test

test-postgres: $(STAMP)
	DATABASE_URL=$(POSTGRES_URL) $(BIN)/pytest -q tests/dj

test311: $(STAMP311)
	$(BIN311)/python -c 'import django, django_tasks; print("Python 3.11, Django", django.get_version(), "+ django-tasks backport")'
	$(BIN311)/pytest -q tests/dj tests/test_unit_surface.py
	DATABASE_URL=$(POSTGRES_URL) $(BIN311)/pytest -q tests/dj

test42: $(STAMP42)
	$(VENV42)/bin/python -c 'import django; print("Python 3.11, Django", django.get_version())'
	$(VENV42)/bin/pytest -q tests/dj
	DATABASE_URL=$(POSTGRES_URL) $(VENV42)/bin/pytest -q tests/dj

bench: $(STAMP)
	$(BIN)/python -m benchmarks

chaos: $(STAMP)
	$(BIN)/python -m chaos

clean:
	rm -rf $(VENV) $(VENV311) $(VENV42) .pytest_cache .mypy_cache .ruff_cache
