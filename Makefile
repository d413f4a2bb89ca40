# The two commands from a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format migrate clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Re-install whenever pyproject.toml changes.
$(STAMP_RUN): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet .
	touch $@

$(STAMP_TEST): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet '.[test]'
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	PANEL_DEBUG=1 $(PY) manage.py migrate --noinput -v0
	PANEL_DEBUG=1 $(PY) manage.py seed_demo
	PANEL_DEBUG=1 $(PY) manage.py runserver $(HOST):$(PORT)

# SQLite unless DATABASE_URL points at PostgreSQL; the row-lock tests need PostgreSQL.
test: $(STAMP_TEST)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP_TEST)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP_TEST)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .hypothesis
