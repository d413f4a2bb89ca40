# The two commands from a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format migrate clean serve bench load

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

# Production serving (see deploy/gunicorn.conf.py and README): gunicorn on $(HOST):$(PORT),
# persistent database connections with health checks, static files through whitenoise.
# Needs PANEL_SECRET_KEY and DATABASE_URL; WEB_CONCURRENCY > 1 needs PANEL_CACHE_URL.
serve: $(STAMP_RUN)
	$(PY) manage.py collectstatic --noinput -v0
	PANEL_BIND=$(HOST):$(PORT) $(PY) -m gunicorn -c deploy/gunicorn.conf.py panel.wsgi

# Performance figures on PostgreSQL (a scratch database on DATABASE_URL's server, default
# postgres://postgres@127.0.0.1:5432), gunicorn on loopback; a few minutes. Writes its
# section of docs/performance.md. Not part of `make test`.
bench: $(STAMP_RUN)
	$(PY) bench/run.py $(BENCH_ARGS)

# Two minutes of 50 users on a mixed workload, the same way; its section of the same file.
load: $(STAMP_RUN)
	$(PY) bench/load.py $(LOAD_ARGS)

lint: $(STAMP_TEST)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP_TEST)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .hypothesis
