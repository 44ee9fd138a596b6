"""Charts and the HTML report an operator opens: trends per quarter and the worst grids/units.

PNG charts carry Chinese labels drawn with a CJK font that ``make setup`` installs (Debian's
fonts-noto-cjk), selected by its file; only on a machine without any CJK font do their labels
fall back to English (with a warning), so no box glyphs appear. The HTML report embeds the
charts as SVG with text left as text, so the browser renders the Chinese labels itself.
"""

from __future__ import annotations

import html
import io
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib import font_manager

from reports.metrics import LABELS_ZH, worst

CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Source Han Sans SC",
    "SimHei",
    "Microsoft YaHei",
)
# where Debian's fonts-noto-cjk (installed by `make setup`) and common alternatives put their files
CJK_FONT_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Medium.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


def cjk_font() -> str | None:
    """The family name of a CJK font matplotlib can draw with, or None.

    Font files are registered by path first: matplotlib's font cache may predate the font's
    installation (a machine set up before ``fonts-noto-cjk`` arrived), and a family that is not in
    the cache silently falls back to DejaVu, which has no Chinese glyphs.
    """
    for path in CJK_FONT_FILES:
        if Path(path).exists():
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError):  # unreadable file: try the next one
                continue
    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((n for n in CJK_FONTS if n in names), None)


def _use_cjk_font() -> str | None:
    """Draw with the CJK font from now on (first in the sans-serif list); its name, or None."""
    font = cjk_font()
    if font:
        plt.rcParams["font.family"] = "sans-serif"
        plt.rcParams["font.sans-serif"] = [font, *(f for f in plt.rcParams["font.sans-serif"] if f != font)]
    return font


def _labels(zh: bool) -> dict[str, str]:
    if zh:
        return {
            "trend": "各季度办结率、满意率、回访率",
            "quarter": "季度",
            "rate": "比率",
            "completion_rate": "办结率",
            "satisfaction_rate": "满意率",
            "response_rate": "回访率",
            "worst_grid": "办结率最低的网格",
            "worst_unit": "满意率最低的单位",
            "cycle": "各周期办结率",
            "assignments": "派单数",
        }
    return {
        "trend": "Completion, satisfaction and response rate by quarter",
        "quarter": "quarter",
        "rate": "rate",
        "completion_rate": "completion",
        "satisfaction_rate": "satisfaction",
        "response_rate": "response",
        "worst_grid": "Grids with the lowest completion rate",
        "worst_unit": "Units with the lowest satisfaction",
        "cycle": "Completion rate by cycle",
        "assignments": "assignments",
    }


def _figures(metrics: pd.DataFrame, zh: bool) -> dict[str, plt.Figure]:
    lab = _labels(zh)
    figs: dict[str, plt.Figure] = {}
    q = metrics[metrics["dimension"] == "quarter"].sort_values("key")
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for col, style in (("completion_rate", "o-"), ("satisfaction_rate", "s-"), ("response_rate", "^--")):
        ax.plot(q["key"].astype(str), q[col], style, label=lab[col])
    ax.set_ylim(0, 1.05)
    ax.set_title(lab["trend"])
    ax.set_xlabel(lab["quarter"])
    ax.set_ylabel(lab["rate"])
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    figs["trend_by_quarter"] = fig

    c = metrics[metrics["dimension"] == "cycle"].sort_values("key")
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.bar(c["key"].astype(str), c["completion_rate"], color="#4c78a8")
    ax.set_ylim(0, 1.05)
    ax.set_title(lab["cycle"])
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    figs["completion_by_cycle"] = fig

    for key, dim, col in (
        ("worst_grids", "grid", "completion_rate"),
        ("worst_units", "unit", "satisfaction_rate"),
    ):
        w = worst(metrics, dim, by=col, n=10, min_assignments=2).dropna(subset=[col])
        fig, ax = plt.subplots(figsize=(7, 3.6))
        names = w["key"].astype(str) + (" " + w["name"].astype(str) if zh and dim == "unit" else "")
        bars = ax.barh(names[::-1], w[col][::-1], color="#e45756")
        # a 0 % bar has no length: print every value so the worst still read at a glance
        ax.bar_label(
            bars,
            labels=[f"{v:.0%} ({int(n)})" for v, n in zip(w[col][::-1], w["assignments"][::-1], strict=True)],
            fontsize=7,
            padding=2,
        )
        ax.set_xlim(0, 1.05)
        ax.set_title(lab["worst_grid" if dim == "grid" else "worst_unit"])
        ax.tick_params(axis="y", labelsize=7)
        figs[key] = fig
    for f in figs.values():
        f.tight_layout()
    return figs


def write_report(
    metrics: pd.DataFrame,
    out_dir: Path,
    title: str = "三张清单 问效报告",
    outcomes: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """PNG charts, the metrics table (CSV for people, Parquet for machines) and report.html."""
    if cjk_font():
        return _write_report(metrics, out_dir, title, outcomes)
    warnings.warn(
        "没有中文字体，图表改用英文标签：请运行 make setup（安装 fonts-noto-cjk）/ no CJK font: "
        "charts fall back to English labels; run `make setup` (installs fonts-noto-cjk)",
        stacklevel=2,
    )
    with warnings.catch_warnings():
        # the SVG keeps Chinese as text for the browser; matplotlib only measures it with its own font
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        return _write_report(metrics, out_dir, title, outcomes)


def _write_report(
    metrics: pd.DataFrame, out_dir: Path, title: str, outcomes: pd.DataFrame | None = None
) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    font = _use_cjk_font()
    plt.rcParams["axes.unicode_minus"] = False
    paths: dict[str, Path] = {}
    for name, fig in _figures(metrics, zh=font is not None).items():
        paths[name] = out_dir / f"{name}.png"
        fig.savefig(paths[name], dpi=110)
        plt.close(fig)
    metrics.to_parquet(out_dir / "metrics.parquet", index=False)
    metrics.rename(columns=LABELS_ZH).to_csv(out_dir / "metrics_zh.csv", index=False, encoding="utf-8-sig")
    paths["table"] = out_dir / "metrics_zh.csv"
    plt.rcParams["svg.fonttype"] = "none"  # text stays text: the browser draws the Chinese
    svgs = []
    for name, fig in _figures(metrics, zh=True).items():
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
        plt.close(fig)
        svgs.append(f"<figure id='{name}'>{buf.getvalue().split('?>', 1)[-1]}</figure>")
    overall = metrics[metrics["dimension"] == "quarter"].rename(columns=LABELS_ZH)
    tables = {}
    if outcomes is not None and len(outcomes):
        from reports.outcomes import OUTCOME_LABELS_ZH

        tables["各季度成效（需求办结）"] = outcomes.rename(columns=OUTCOME_LABELS_ZH)
        outcomes.rename(columns=OUTCOME_LABELS_ZH).to_csv(
            out_dir / "outcomes_zh.csv", index=False, encoding="utf-8-sig"
        )
        paths["outcomes_csv"] = out_dir / "outcomes_zh.csv"
    tables |= {
        "各季度": overall.drop(columns=["维度", "名称"]).rename(columns={"编号": "季度"}),
        "办结率最低的网格": worst(metrics, "grid").rename(columns=LABELS_ZH).drop(columns=["维度"]),
        "满意率最低的单位": worst(metrics, "unit", by="satisfaction_rate")
        .rename(columns=LABELS_ZH)
        .drop(columns=["维度"]),
    }
    body = [
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:2em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}"
        "figure{display:inline-block;margin:0 1em 1em 0}</style>",
        f"<h1>{html.escape(title)}</h1>",
        "<p>办结率 = 已办结（未被回访否定）的派单 / 派单（不含拒单）；满意率 = 评分 4-5 分 / 有评分的回访；"
        "回访率 = 已回答 / 已发出的回访。</p>",
        *svgs,
    ]
    for caption, table in tables.items():
        body.append(
            f"<h2>{caption}</h2>{table.to_html(index=False, na_rep='—', float_format=lambda x: f'{x:.3f}')}"
        )
    paths["html"] = out_dir / "report.html"
    paths["html"].write_text("\n".join(body), encoding="utf-8")
    return paths


def write_gap_chart(lines: pd.DataFrame, path: Path, top: int = 12) -> Path | None:
    """Bar chart of the recruitment list: needs each recommendation would serve (Chinese labels)."""
    if lines.empty:
        return None
    font = _use_cjk_font()
    w = lines.head(top).iloc[::-1]
    names = (
        (w["community_name"].astype(str) + " · " + w["item_name"].astype(str))
        if font
        else (w["community_id"].astype(str) + " " + w["item_code"].astype(str))
    )
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(w) + 1.4))
    bars = ax.barh(names, w["unserved"], color="#e45756", label="未能派单" if font else "unserved")
    ax.bar_label(
        bars,
        labels=[
            f"+{int(s)} 名额 → 多派 {int(p)}" if font else f"+{int(s)} slots -> +{int(p)}"
            for s, p in zip(w["recommended_slots"], w["predicted_served"], strict=True)
        ],
        fontsize=7,
        padding=2,
    )
    ax.set_title("资源缺口：建议联席会议招募的名额" if font else "Resource gaps: slots to recruit")
    ax.set_xlabel("未能派单的需求" if font else "unserved needs")
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlim(0, max(1, float(w["unserved"].max())) * 1.6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
