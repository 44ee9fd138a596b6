"""Imports point one way: the pure packages never import Prefect, and nothing imports flows/."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PURE = [
    "lifecycle",
    "matching",
    "data_contracts",
    "store",
    "intake",
    "service",
    "reference",
    "sample",
    "reports",
    "surveys",
]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_pure_packages_never_import_prefect():
    offenders = [
        str(p.relative_to(ROOT))
        for pkg in PURE
        if (ROOT / pkg).is_dir()
        for p in (ROOT / pkg).rglob("*.py")
        if {"prefect", "prefect_dask", "tasks", "flows"} & _imports(p)
    ]
    assert offenders == []


def test_nothing_outside_flows_imports_flows():
    offenders = [
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*.py")
        if ".venv" not in p.parts
        and "var" not in p.parts
        and p.parts[len(ROOT.parts)] not in ("flows", "tests")
        and "flows" in _imports(p)
    ]
    assert offenders == []


PROJECT_PACKAGES = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} | {"settings"}


def test_store_only_reads_and_writes_and_imports_nothing_above_it():
    offenders = {
        str(p.relative_to(ROOT)): sorted((_imports(p) & PROJECT_PACKAGES) - {"store", "settings"})
        for p in (ROOT / "store").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
