"""The quarterly needs survey (问需调研): visiting rosters per grid and the survey form.

The form is an XLSForm (survey / choices / settings sheets) so it loads in ODK Collect and
KoboToolbox; its field names are ones the needs intake already maps, so exported answers
dropped into ``inbox/surveys/`` become needs (deduplicated against open ones); "no need" answers
are counted, and opt-outs recorded in the registry (``intake.ingest``).
"""

from __future__ import annotations

import html
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from lifecycle.states import SurveyStatus
from lifecycle.vocabulary import URGENCY_ZH
from service.masking import building_only, mask_name
from store.db import rows_frame
from store.models import Community, Grid, Household, Survey

URGENCY_CHOICES = [(str(level), word) for level, word in URGENCY_ZH.items()]


def quarter_of(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def visiting_roster(session: Session, day: date, recency_days: int) -> pd.DataFrame:
    """Households each grid worker visits this quarter: not opted out, not visited in ``recency_days``."""
    cutoff = datetime.combine(day - timedelta(days=recency_days), datetime.min.time())
    q = (
        select(
            Grid.community_id,
            Community.name.label("community_name"),
            Household.grid_id,
            Grid.name.label("grid_name"),
            Household.id.label("household_id"),
            Household.address,
            Household.head_name,
            Household.last_visited_at,
        )
        .join(Grid, Grid.id == Household.grid_id)
        .join(Community, Community.id == Grid.community_id)
        .where(Household.survey_opt_out.is_(False))
        .where((Household.last_visited_at.is_(None)) | (Household.last_visited_at < cutoff))
        .order_by(Household.grid_id, Household.id)
    )
    return rows_frame(session, q)


def register_quarterly_surveys(session: Session, day: date, roster: pd.DataFrame) -> int:
    """One survey record per grid and quarter (idempotent); returns how many were new."""
    quarter = quarter_of(day)
    have = set(
        session.scalars(select(Survey.ref).where(Survey.kind == "quarterly", Survey.ref.like(f"{quarter}:%")))
    )
    new = 0
    for grid_id in sorted(roster["grid_id"].unique()):
        ref = f"{quarter}:{grid_id}"
        if ref not in have:
            session.add(
                Survey(
                    kind="quarterly",
                    ref=ref,
                    due_on=day,
                    status=SurveyStatus.PENDING,
                    created_at=datetime.now(),
                )
            )
            new += 1
    return new


def write_xlsform(path: Path, taxonomy: pd.DataFrame, quarter: str) -> Path:
    """The needs survey as an XLSForm (survey, choices, settings), the catalogue as choices."""
    wb = Workbook()
    survey = wb.active
    survey.title = "survey"
    header = [
        "type",
        "name",
        "label::中文 (zh)",
        "hint::中文 (zh)",
        "required",
        "constraint",
        "constraint_message::中文 (zh)",
        "relevant",
        "choice_filter",
        "calculation",
    ]
    survey.append(header)
    phone_rule = "regex(., '^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})$')"
    needs_it = "${has_need} = 'yes'"
    for row in [
        {"type": "start", "name": "start"},
        {"type": "end", "name": "end"},
        {"type": "text", "name": "grid_id", "label": "网格编号", "hint": "见走访名单", "required": "yes"},
        {"type": "text", "name": "household_id", "label": "户编号", "hint": "见走访名单", "required": "yes"},
        {"type": "text", "name": "contact_name", "label": "联系人", "required": "yes"},
        {
            "type": "text",
            "name": "contact_phone",
            "label": "联系电话",
            "hint": "11位手机号或带区号座机",
            "constraint": phone_rule,
            "constraint_message": "电话格式不对",
        },
        {
            "type": "select_one yes_no",
            "name": "has_need",
            "label": "您家近期有需要社区帮助的事情吗？",
            "required": "yes",
        },
        {
            "type": "select_one category",
            "name": "category",
            "label": "需求类别",
            "required": "yes",
            "relevant": needs_it,
        },
        {
            "type": "select_one item",
            "name": "service_item",
            "label": "服务事项",
            "required": "yes",
            "relevant": needs_it,
            "choice_filter": "category=${category}",
        },
        {"type": "text", "name": "description", "label": "具体需求", "relevant": needs_it},
        {
            "type": "select_one urgency",
            "name": "urgency",
            "label": "紧急程度",
            "required": "yes",
            "relevant": needs_it,
        },
        {"type": "select_one yes_no", "name": "survey_opt_out", "label": "以后不再接受回访和问卷？"},
        {
            "type": "calculate",
            "name": "reported_at",
            "calculation": "format-date-time(now(), '%Y-%m-%d %H:%M:%S')",
        },
    ]:
        survey.append(
            [
                row.get("type"),
                row.get("name"),
                row.get("label"),
                row.get("hint"),
                row.get("required"),
                row.get("constraint"),
                row.get("constraint_message"),
                row.get("relevant"),
                row.get("choice_filter"),
                row.get("calculation"),
            ]
        )
    choices = wb.create_sheet("choices")
    choices.append(["list_name", "name", "label::中文 (zh)", "category"])
    for name, label in (("yes", "是"), ("no", "否")):
        choices.append(["yes_no", name, label, ""])
    for r in taxonomy.drop_duplicates("category_code").itertuples():
        choices.append(["category", r.category_code, r.category_zh, ""])
    for r in taxonomy.itertuples():
        choices.append(["item", r.item_code, r.item_zh, r.category_code])
    for name, label in URGENCY_CHOICES:
        choices.append(["urgency", name, label, ""])
    settings = wb.create_sheet("settings")
    settings.append(["form_title", "form_id", "version", "default_language"])
    settings.append(
        [
            f"社区问需调研 {quarter}",
            f"threelists_needs_{quarter.lower()}",
            quarter.replace("Q", "0"),
            "中文 (zh)",
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def write_printable(
    path: Path, roster: pd.DataFrame, taxonomy: pd.DataFrame, quarter: str, community: str
) -> Path:
    """A printable sheet for one community: each grid's visiting list and the paper form."""
    items = "、".join(f"{r.item_zh}" for r in taxonomy.itertuples())
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>{quarter} 问需调研 {html.escape(community)}</title>",
        "<style>body{font-family:sans-serif}table{border-collapse:collapse;width:100%}"
        "td,th{border:1px solid #444;padding:4px;font-size:12px}h2{page-break-before:always}"
        "h2:first-of-type{page-break-before:auto}</style>",
        f"<h1>{quarter} 社区问需调研 — {html.escape(community)}</h1>",
        f"<p>服务事项目录：{html.escape(items)}</p><p>紧急程度：一般 / 紧急 / 特急。居民表示不再接受问卷的，请勾选“不再回访”。</p>",
    ]
    for grid_id, part in roster.groupby("grid_id"):
        parts.append(
            f"<h2>{html.escape(grid_id)} {html.escape(str(part['grid_name'].iloc[0]))}：走访 {len(part)} 户</h2>"
        )
        parts.append(
            "<table><tr><th>户编号</th><th>楼栋</th><th>户主</th><th>上次走访</th><th>有无需求</th>"
            "<th>服务事项</th><th>具体需求</th><th>紧急程度</th><th>联系电话</th><th>不再回访</th></tr>"
        )
        for r in part.itertuples():
            last = r.last_visited_at.strftime("%Y-%m-%d") if pd.notna(r.last_visited_at) else "从未"
            parts.append(
                f"<tr><td>{html.escape(r.household_id)}</td><td>{html.escape(building_only(r.address))}</td>"
                f"<td>{html.escape(mask_name(r.head_name))}</td><td>{last}</td><td>□有 □无</td><td></td><td></td>"
                "<td>□一般 □紧急 □特急</td><td></td><td>□</td></tr>"
            )
        parts.append("</table>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
