"""A flow run's process keeps the memory it frees (settings.keep_memory), and the switch turns it off;
the solver hands the kept memory back before it forks its workers (settings.hand_back_memory).

Each case runs in a new interpreter: the settings are process-wide, and what is measured is the
process's resident memory after a 200 MB array is freed (Linux, /proc/self/statm).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from settings import PROJECT_ROOT

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc on Linux"
)

# each probe starts with this: the process's resident MiB
RSS = """
import json, os

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
"""

PROBE = """
import flows  # what a flow run imports first
import numpy as np
from numpy._core import multiarray

a = np.ones(25_000_000)  # 200 MB
held = rss()
del a
print(json.dumps({"freed_mib": held - rss(), "huge_pages": bool(multiarray._get_madvise_hugepage())}))
"""


POOL_PROBE = """
import flows  # a flow run's process: freed memory is kept
import numpy as np
from matching import solver
from matching.instances import random_instance

edges, cap, pen = random_instance(3000, 600, seed=1)
solver.solve_assignment(edges, cap, pen, workers=1)  # what the solve itself takes and keeps
a = np.ones(40_000_000)  # 320 MB, freed: kept
del a
kept = rss()
solver.PARALLEL_MIN_SLOT_EDGES = 0  # the process pool for this small instance's 30 blocks
solver.solve_assignment(edges, cap, pen, workers=2)
print(json.dumps({"handed_back_mib": kept - rss()}))
"""


def _probe(script: str = PROBE, **env: str) -> dict[str, float]:
    clean = {
        k: v for k, v in os.environ.items() if k not in ("THREELISTS_KEEP_MEMORY", "NUMPY_MADVISE_HUGEPAGE")
    }
    out = subprocess.run(
        [sys.executable, "-c", RSS + script],
        cwd=PROJECT_ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_flow_runs_process_keeps_freed_memory_in_small_pages():
    kept = _probe()
    assert kept["freed_mib"] < 20, kept  # the 200 MB stay with the process for its next stage
    assert kept["huge_pages"] is False


def test_the_switch_leaves_glibc_and_numpy_as_they_are():
    default = _probe(THREELISTS_KEEP_MEMORY="0")
    assert default["freed_mib"] > 150, default  # glibc gives a large block back at once
    # numpy's own default (huge pages on Linux 4.6+), and an operator's choice, are left alone
    assert _probe(NUMPY_MADVISE_HUGEPAGE="1")["huge_pages"] is True


def test_the_solver_hands_kept_memory_back_before_it_forks_workers():
    # forked workers inherit the free lists and would each copy every kept page they write to: at
    # 1M needs the pool's PSS peaked 250-500 MiB higher (make bench, docs/benchmarks.md)
    assert _probe(POOL_PROBE)["handed_back_mib"] > 250
