# threelists — two commands: `make run` (set up + main job) and `make test` (set up + tests).
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
VENV := .venv
BOOT := var/bootstrap
UV := $(BOOT)/bin/uv
export PREFECT_HOME := $(CURDIR)/var/prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_DATABASE_CONNECTION_URL ?= sqlite+aiosqlite:///$(CURDIR)/var/prefect/prefect.db
export PREFECT_LOGGING_LEVEL ?= INFO

.PHONY: run test lint serve stop bench setup clean

$(UV):
	@mkdir -p var/prefect
	$(PYTHON) -m venv $(BOOT)
	$(BOOT)/bin/pip install -q uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

setup: $(VENV)/.synced
	@mkdir -p var/prefect

run: setup
	$(VENV)/bin/python -m flows.main

test: setup
	$(VENV)/bin/python -m pytest

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(VENV)/bin/python -m benchmarks.bench_matching

clean:
	rm -rf var

serve: setup
	bash scripts/serve.sh start

stop:
	bash scripts/serve.sh stop
