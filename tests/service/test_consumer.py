"""A downstream consumer reads the published service list with plain pandas and the JSON Schema.

The consumer script runs in its own interpreter and imports nothing from this project.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import date

from flows.match_cycle import match_cycle

CONSUMER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import jsonschema, pandas as pd

    cycle_dir, schema_path = Path(sys.argv[1]), Path(sys.argv[2])
    assert not any(m.split(".")[0] in {"matching", "store", "service", "data_contracts", "flows", "tasks"}
                   for m in sys.modules), "consumer must not import the project"
    latest = json.loads((cycle_dir / "latest.json").read_text(encoding="utf-8"))
    folder = cycle_dir / latest["path"]
    doc = json.loads((folder / "service_list.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(json.loads(schema_path.read_text(encoding="utf-8"))).validate(doc)
    csv = pd.read_csv(folder / "service_list.csv", encoding="utf-8-sig", dtype={"resident_phone_masked": str})
    pq = pd.read_parquet(folder / "service_list.parquet")
    js = pd.DataFrame(doc["rows"])
    assert len(csv) == len(pq) == len(js) == latest["row_count"] == doc["row_count"]
    assert list(csv.columns) == list(pq.columns) == list(js.columns)
    assert csv["need_id"].tolist() == pq["need_id"].tolist() == js["need_id"].tolist()
    assert csv["resident_phone_masked"].str.fullmatch(r"\\d{3}\\*{4}\\d{4}").all()
    print("consumer ok", len(csv), "rows, version", latest["version"])
    """
)


def test_consumer_reads_every_format_without_the_project(prefect_harness, tiny, env, tmp_path):
    match_cycle(cycle_day=date(2026, 11, 16))
    script = tmp_path / "consumer.py"
    script.write_text(CONSUMER, encoding="utf-8")
    schema = env.var_dir.parent / "schema.json"
    from service.publish import SCHEMA_PATH

    schema.write_bytes(SCHEMA_PATH.read_bytes())  # consumers get the schema file, not the code
    out = subprocess.run(
        [sys.executable, "-I", str(script), str(env.published_dir / "2026-W47"), str(schema)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "consumer ok 2 rows, version 1" in out.stdout
