# threelists — two commands: `make run` (set up + main job) and `make test` (set up + tests).
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
VENV := .venv
BOOT := var/bootstrap
UV := $(BOOT)/bin/uv
# Prefect's state stays in the project (a PREFECT_HOME set outside is honoured)
export PREFECT_HOME ?= $(CURDIR)/var/prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_DATABASE_CONNECTION_URL ?= sqlite+aiosqlite:///$(PREFECT_HOME)/prefect.db
# the ephemeral API's start-up on a slow 2-core machine (Prefect's default, 20 s, is too short
# for a first start; setup migrates Prefect's database ahead so later starts take ~5 s)
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 180
PREFECT_DB_STAMP := $(PREFECT_HOME)/.db-migrated
export PREFECT_LOGGING_LEVEL ?= INFO

.PHONY: run test lint serve stop bench setup clean system-packages system-packages-test prefect-db

$(UV):
	@mkdir -p var/prefect
	@# Debian's own python3 makes no venv without its pythonX.Y-venv package: install it, then retry
	$(PYTHON) -m venv $(BOOT) || { rm -rf $(BOOT); bash scripts/system_packages.sh venv $(PYTHON) && $(PYTHON) -m venv $(BOOT); }
	$(BOOT)/bin/pip install -q uv==$(UV_VERSION)

# bytecode compiled once at install: where PYTHONDONTWRITEBYTECODE is set (as on the machines
# here) Python writes no .pyc, and every process (each flow run, worker, test server) compiled
# great-expectations, Prefect and pandas from source again: their import 15.4 s -> 8.7 s
$(VENV)/.synced-pyc: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

# Prefect's own database, migrated before any flow runs (its first migration takes 25-35 s on
# 2 cores: inside the ephemeral server's start-up it would time out). Re-done when the lock moves.
$(PREFECT_DB_STAMP): $(VENV)/.synced-pyc
	@mkdir -p $(PREFECT_HOME)
	@echo "migrating Prefect's database in $(PREFECT_HOME) (first time: ~30 s)"
	$(VENV)/bin/prefect server database upgrade -y >/dev/null
	@echo "$$($(VENV)/bin/python -c 'import prefect; print(prefect.__version__)')" > $@

prefect-db: $(PREFECT_DB_STAMP)

# Debian packages: the CJK font for chart labels (setup); Chromium for the browser tests (test)
system-packages:
	@bash scripts/system_packages.sh run

system-packages-test:
	@bash scripts/system_packages.sh test

setup: $(VENV)/.synced-pyc system-packages prefect-db
	@mkdir -p var

run: setup
	$(VENV)/bin/python -m flows.main

test: setup system-packages-test
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
