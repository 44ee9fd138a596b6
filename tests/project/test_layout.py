"""Imports point one way: flows -> tasks -> domain packages -> store -> settings.

- ``settings`` imports no project package; ``store`` imports only ``store`` and ``settings``;
- the domain packages never import ``tasks``, ``flows`` or Prefect; ``lifecycle`` and ``matching``
  (pure) do not touch the database either;
- ``tasks`` never imports ``flows``; a flow is imported only by a parent flow (and by tests);
- benchmarks and scripts import no tests.
Every import counts, including those inside functions (a hidden cycle is still a cycle).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} | {"settings"}
DOMAIN = {"lifecycle", "matching", "data_contracts", "intake", "service", "reference", "sample", "reports"}
PURE = {"lifecycle", "matching"}  # no database, no Prefect: plain Python, numpy, pandas, scipy
PREFECT = {"prefect", "prefect_dask"}
# what each layer may import, of the project's packages and of the libraries that define a layer
ALLOWED = {
    "settings": set(),
    "store": {"store", "settings"},
    **{pkg: DOMAIN | {"store", "settings"} for pkg in DOMAIN},
    "tasks": DOMAIN | {"tasks", "store", "settings"},
    "flows": DOMAIN | {"tasks", "flows", "store", "settings"},
    "benchmarks": PROJECT - {"tests", "flows"},
    "scripts": PROJECT - {"tests"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def _files(layer: str) -> list[Path]:
    path = ROOT / layer
    return [path.with_suffix(".py")] if (ROOT / f"{layer}.py").exists() else sorted(path.rglob("*.py"))


def test_every_project_package_has_a_layer():
    assert PROJECT - {"tests"} <= set(ALLOWED), "a new package needs its place in ALLOWED"


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_point_down(layer: str):
    offenders = {
        str(p.relative_to(ROOT)): sorted((_imports(p) & PROJECT) - ALLOWED[layer]) for p in _files(layer)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_tasks_flows_and_scripts_use_prefect():
    layers = DOMAIN | {"store", "settings"}
    offenders = [str(p.relative_to(ROOT)) for layer in layers for p in _files(layer) if _imports(p) & PREFECT]
    assert offenders == []


def test_pure_packages_touch_no_database():
    offenders = [
        str(p.relative_to(ROOT))
        for layer in PURE
        for p in _files(layer)
        if _imports(p) & {"sqlalchemy", "store", "psycopg", "sqlite3"}
    ]
    assert offenders == []


ORACLES = {"ortools"}  # the optional ``oracle`` dependency group: tests and benchmarks only


def test_the_product_never_needs_the_oracle():
    """OR-Tools checks and times the solver; nothing that runs in production imports it."""
    offenders = [
        str(p.relative_to(ROOT))
        for layer in set(ALLOWED) - {"benchmarks"}
        for p in _files(layer)
        if _imports(p) & ORACLES
    ]
    assert offenders == []
    bad = "from ortools.graph.python import min_cost_flow\n"
    assert _imports_text(bad) & ORACLES  # the check can fail


def _imports_text(text: str) -> set[str]:
    tree = ast.parse(text)
    return {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}


def test_a_flow_is_imported_only_by_a_parent_flow():
    offenders = [
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*.py")
        if not ({".venv", "var", "tests"} & set(p.relative_to(ROOT).parts))
        and p.relative_to(ROOT).parts[0] != "flows"
        and "flows" in _imports(p)
    ]
    assert offenders == []


def test_the_layout_check_sees_a_violation(tmp_path: Path):
    """The check itself can fail: an upward import inside a function is found."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from tasks.events import announce\n    return announce\n", encoding="utf-8")
    assert "tasks" in (_imports(bad) & PROJECT) - ALLOWED["store"]


STATUS_WORDS = "open|dispatched|accepted|declined|completed|released|closed|reopened|running|matched|failed|pending|answered|no_answer|superseded"
STATUS_LITERAL = re.compile(
    rf"""status\w*["'\]]?\s*(?:==|!=|=|:|\.in_\(\(?|\.isin\(\[?)\s*["'](?:{STATUS_WORDS})["']"""
)


def test_status_literals_live_only_in_the_lifecycle_package():
    """A need's, an assignment's, a cycle's, a survey's or a quarantined row's status is written
    and compared with lifecycle.states' enums everywhere else (migrations keep their history)."""
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for layer in ALLOWED
        if layer != "lifecycle"
        for p in _files(layer)
        if "migrations" not in p.parts
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if STATUS_LITERAL.search(line)
    ]
    assert offenders == []
    for written in (
        'q.where(Need.status == "open")',
        '{"status": "open"}',
        'update(x).values(status="closed")',
    ):
        assert STATUS_LITERAL.search(written)  # the check can fail
