"""Load 100,000 needs through the real intake path and split the time: read, validate, write.

    .venv/bin/python -m benchmarks.bench_intake [--size 334] [--database-url URL]

Generates a city-scale sample district (grid workers' CSV/XLSX sheets and a platform JSON
export), then ingests every file as the collect flow does (each dataset's files checked in one
contract pass, one transaction per file). The
baseline in the same run is a plain pandas ``read_csv`` + ``to_sql`` of the same rows with no
contract, no normalisation and no dedupe: what the checks cost on top of moving the bytes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=float, default=334.0, help="334 gives about 100,000 needs")
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tl-bench-intake-"))
    os.environ["THREELISTS_VAR"] = str(work / "var")
    url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    os.environ["THREELISTS_DATABASE_URL"] = url

    import pandas as pd

    from intake.ingest import ingest_files, list_inbox
    from reference import load_taxonomy_frame
    from sample.district import generate_district
    from settings import get_settings
    from store.db import empty_tables, get_engine, session_factory, upgrade_database
    from store.reference import load_district_registry, load_taxonomy

    settings = get_settings()
    settings.ensure_dirs()
    if url.startswith("postgresql"):
        upgrade_database(url)
        empty_tables(url)
    else:
        upgrade_database(url)
    t = time.perf_counter()
    summary = generate_district(work / "sample", size=args.size, seed=11)
    print(
        f"generated {summary.needs} needs, {summary.units} units, {summary.offers} offers, "
        f"{summary.grids} grids, {summary.households} households in {time.perf_counter() - t:.1f} s"
    )
    sessions = session_factory(url)
    t = time.perf_counter()
    with sessions() as s, s.begin():
        load_taxonomy(s, load_taxonomy_frame())
        load_district_registry(s, work / "sample" / "district.json")
    print(f"registry loaded in {time.perf_counter() - t:.1f} s")
    shutil.copytree(work / "sample" / "inbox", settings.inbox_dir, dirs_exist_ok=True)

    totals: dict[str, float] = {"read": 0.0, "validate": 0.0, "write": 0.0}
    rows = {"read": 0, "loaded": 0, "quarantined": 0, "merged": 0}
    need_files = 0
    t_all = time.perf_counter()
    reports = ingest_files(sessions, list_inbox(settings.inbox_dir), settings.archive_dir)
    for r in reports:
        if r.dataset != "needs":
            continue
        need_files += 1
        for k in totals:
            totals[k] += r.seconds.get(k, 0.0)
        rows["read"] += r.rows_read
        rows["loaded"] += r.loaded
        rows["quarantined"] += r.quarantined + r.already_quarantined
        rows["merged"] += r.merged + r.already_loaded
    wall = time.perf_counter() - t_all
    need_s = sum(totals.values())
    print(f"\nneeds intake ({need_files} files, {url.split(':')[0]}): {rows}")
    print(
        f"  needs stages: read+normalise {totals['read']:.2f} s, validate {totals['validate']:.2f} s, "
        f"database write {totals['write']:.2f} s = {need_s:.2f} s -> {rows['read'] / need_s:,.0f} rows/s"
    )
    print(
        f"  shares: read {100 * totals['read'] / need_s:.0f}%, validate {100 * totals['validate'] / need_s:.0f}%, "
        f"write {100 * totals['write'] / need_s:.0f}%   (all files incl. units/offers: {wall:.2f} s)"
    )

    # baseline: the same needs CSV sheets moved with pandas only (no contract, no cleaning, no dedupe)
    t = time.perf_counter()

    def read_any(p: Path) -> pd.DataFrame:
        try:
            return pd.read_csv(p, dtype=str, encoding="utf-8-sig")
        except UnicodeDecodeError:
            return pd.read_csv(p, dtype=str, encoding="gb18030")

    frames = [read_any(p) for p in sorted((work / "sample" / "inbox" / "needs").glob("*.csv"))]
    base = pd.concat([f for f in frames if f is not None])
    base.to_sql("baseline_needs", get_engine(url), if_exists="replace", index=False, chunksize=5000)
    bt = time.perf_counter() - t
    print(
        f"  baseline (pandas read_csv + to_sql of the {len(base)} CSV rows, no checks): {bt:.2f} s -> "
        f"{len(base) / bt:,.0f} rows/s; intake is {(rows['read'] / need_s) / (len(base) / bt):.2f}x its rate"
    )
    with get_engine(url).begin() as c:
        c.exec_driver_sql("DROP TABLE baseline_needs")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
