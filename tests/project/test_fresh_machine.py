"""A fresh machine: the project's own setup path prepares Prefect so the first flow run starts.

The first start of Prefect's ephemeral API on a new PREFECT_HOME runs all of Prefect's migrations
(25-35 s on 2 cores), longer than its default 20 s start-up timeout. `make setup` migrates ahead
(`make prefect-db`); this test runs that target on a new, empty PREFECT_HOME and then a bare flow
with a start-up timeout of 30 s: a migrated database starts in ~10 s here, a new one needs 35-45 s
(migrations + start), so the test fails if setup stops doing its part.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from settings import PROJECT_ROOT

pytestmark = pytest.mark.slow


def _clean_env(home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and not k.startswith("MAKE")}
    env.update(PREFECT_HOME=home, PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    return env


def test_setup_path_lets_the_ephemeral_api_start_on_a_new_prefect_home(tmp_path):
    home = tmp_path / "new-prefect-home"
    assert not home.exists()
    env = _clean_env(str(home))
    made = subprocess.run(
        ["make", "-s", "prefect-db"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert made.returncode == 0, made.stdout + made.stderr
    assert (home / "prefect.db").exists() and (home / ".db-migrated").exists()

    code = (
        "from prefect import flow\n"
        "@flow(name='fresh-home-check')\n"
        "def hello() -> int:\n"
        "    return 42\n"
        "assert hello() == 42\n"
    )
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**env, "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "30"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    elapsed = time.monotonic() - started
    assert "Timed out while attempting to connect to ephemeral" not in run.stderr, run.stderr[-2000:]
    assert run.returncode == 0, run.stderr[-2000:]
    print(f"flow on a freshly set-up PREFECT_HOME finished in {elapsed:.1f} s")

    again = subprocess.run(
        ["make", "-s", "prefect-db"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0 and "migrating" not in again.stdout  # idempotent: done once per home


def test_setup_installs_the_stack_with_its_bytecode():
    """Where PYTHONDONTWRITEBYTECODE is set Python writes no .pyc: unless setup compiled them,
    every flow run, worker and server process compiles the stack from source (~7 s each here)."""
    import importlib.util

    import great_expectations
    import pandas
    import prefect

    for module in (great_expectations, prefect, pandas):
        cached = importlib.util.cache_from_source(module.__file__)
        assert os.path.exists(cached), f"{module.__name__} has no bytecode: `make setup` compiles it"
