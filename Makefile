# shopfloor — the two commands of the quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint install clean tryton

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Tryton 8.2 in its own virtualenv: the real ERP of the end-to-end tests (never imported here)
TRYTON_VENV  := .venv-tryton
TRYTON_STAMP := $(TRYTON_VENV)/.installed

$(TRYTON_STAMP): requirements/tryton.txt
	$(PYTHON) -m venv $(TRYTON_VENV)
	$(TRYTON_VENV)/bin/pip install --quiet --upgrade pip
	$(TRYTON_VENV)/bin/pip install --quiet -r requirements/tryton.txt
	touch $(TRYTON_STAMP)

tryton: $(TRYTON_STAMP)

## Seed a demo plant in var/demo.db and serve it at http://127.0.0.1:8000
demo: $(STAMP)
	$(BIN)/shopfloor demo

## Lint, type-check, check the architecture, then run every test (SQLite and PostgreSQL)
test: $(STAMP) $(TRYTON_STAMP) lint
	$(BIN)/pytest -n $${PYTEST_WORKERS:-auto} --maxprocesses=4 -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(TRYTON_VENV) var build *.egg-info
