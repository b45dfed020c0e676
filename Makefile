# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench chaos clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m example_project.demo

lint: $(STAMP)
	$(BIN)/ruff check celery_actions tests benchmarks chaos example_project
	$(BIN)/ruff format --check celery_actions tests benchmarks chaos example_project
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks

chaos: $(STAMP)
	$(BIN)/python -m chaos

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
