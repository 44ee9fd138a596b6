"""The three rates on a hand-checked fixture."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from reports.metrics import compute_metrics


def _facts() -> pd.DataFrame:
    rows = [
        # unit, item, grid, cycle, status, completed_on, survey status, done, satisfaction
        ("U1", "X", "G1", "2026-W47", "closed", date(2026, 11, 20), "answered", "yes", 5),
        ("U1", "X", "G1", "2026-W47", "reopened", date(2026, 11, 19), "answered", "no", 2),
        ("U2", "Y", "G2", "2026-W48", "released", None, None, None, None),
        ("U2", "Y", "G2", "2026-W48", "completed", date(2026, 11, 27), "pending", None, None),
    ]
    df = pd.DataFrame(
        rows,
        columns=[
            "unit_id",
            "item_code",
            "grid_id",
            "cycle_id",
            "status",
            "completed_on",
            "survey_status",
            "done",
            "satisfaction",
        ],
    )
    df["unit_name"] = df["unit_id"] + "服务队"
    df["item_name"] = df["item_code"]
    df["community_id"] = "C1"
    df["submitted_at"] = [
        datetime(2026, 11, 10),
        datetime(2026, 11, 10),
        datetime(2026, 11, 17),
        datetime(2026, 11, 17),
    ]
    df["assignment_id"] = range(1, 5)
    return df


def _row(m: pd.DataFrame, dim: str, key: str) -> pd.Series:
    return m[(m["dimension"] == dim) & (m["key"] == key)].iloc[0]


def test_rates_by_unit_hand_checked():
    m = compute_metrics(_facts())
    u1, u2 = _row(m, "unit", "U1"), _row(m, "unit", "U2")
    # U1: 2 assignments, 1 completed (the other reopened by "not done"); both answered; 1 of 2 scores >= 4
    assert (u1.assignments, u1.completed, u1.completion_rate) == (2, 1, 0.5)
    assert (u1.surveys, u1.answered, u1.response_rate) == (2, 2, 1.0)
    assert (u1.scored, u1.satisfied, u1.satisfaction_rate) == (2, 1, 0.5)
    assert u1.median_days_to_complete == 10.0 and u1["name"] == "U1服务队"
    # U2: released work is not completed; the pending follow-up is sent but unanswered; no score yet
    assert (u2.completed, u2.completion_rate, u2.surveys, u2.answered, u2.response_rate) == (
        1,
        0.5,
        1,
        0,
        0.0,
    )
    assert pd.isna(u2.satisfaction_rate) and u2.median_days_to_complete == 10.0


def test_rates_by_community_cycle_and_quarter():
    m = compute_metrics(_facts())
    c = _row(m, "community", "C1")
    assert (c.assignments, c.completed, c.surveys, c.answered) == (4, 2, 3, 2)
    assert c.response_rate == pytest.approx(0.6667, abs=1e-4)
    assert _row(m, "cycle", "2026-W48").completion_rate == 0.5
    q = _row(m, "quarter", "2026Q4")
    assert (q.assignments, q.completion_rate, q.satisfaction_rate) == (4, 0.5, 0.5)


def test_report_writes_charts_table_and_html(tmp_path):
    from reports.charts import write_report

    paths = write_report(compute_metrics(_facts()), tmp_path)
    for name in ("trend_by_quarter", "completion_by_cycle", "worst_grids", "worst_units"):
        assert paths[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = paths["html"].read_text(encoding="utf-8")
    assert "办结率" in html and "<svg" in html and "2026Q4" in html
    assert "办结率" in paths["table"].read_text(encoding="utf-8-sig").splitlines()[0]


def test_charts_draw_chinese_labels_with_a_cjk_font_and_no_glyph_falls_back(tmp_path):
    """`make setup` installs fonts-noto-cjk; every Chinese label must be drawn with it, not as boxes."""
    import warnings

    import matplotlib.pyplot as plt

    from reports.charts import cjk_font, write_report

    font = cjk_font()
    assert font, "no CJK font: `make setup` installs Debian's fonts-noto-cjk"
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*[Gg]lyph.*missing.*")
        warnings.filterwarnings("error", message=".*findfont.*")
        paths = write_report(compute_metrics(_facts()), tmp_path)
    assert plt.rcParams["font.sans-serif"][0] == font
    # the PNG really carries the CJK title: drawn with the CJK font it has far more ink than boxes
    assert paths["trend_by_quarter"].stat().st_size > 10_000
