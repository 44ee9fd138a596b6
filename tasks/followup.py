"""Follow-up survey tasks: create what is due, chase the unanswered, publish the call list."""

from __future__ import annotations

import shutil
from datetime import date

from prefect import get_run_logger, task

from lifecycle.changes import NeedChange
from lifecycle.vocabulary import CALL_FILL_IN_ZH, CALL_HEADERS_ZH
from service.followup import (
    CALL_COLUMNS,
    chase_unanswered,
    create_due_followups,
    followup_call_rows,
)
from service.publish import PublishResult, finish_publication, publish_rows
from settings import get_settings
from store.db import session_factory
from tasks import artifacts
from tasks.events import announce


@task(retries=2, retry_delay_seconds=3)
def prepare_followups(today: date, delay_days: int, interval_days: int, max_reminders: int) -> dict[str, int]:
    changes: list[NeedChange] = []
    with session_factory(get_settings().database_url)() as session, session.begin():
        counts = {"created": create_due_followups(session, today, delay_days, changes)}
        counts |= chase_unanswered(session, today, interval_days, max_reminders, changes)
    announce(changes)
    get_run_logger().info("follow-ups: %s", counts)
    return counts


@task(retries=2, retry_delay_seconds=3)
def publish_call_list(today: date) -> PublishResult:
    """The phone team's list for today, versioned and atomic like the service list, in its own outbox
    (it carries full phone numbers: never under published/). Today's list holds every call still
    pending, so earlier lists are removed, and today's too once no call is left."""
    settings = get_settings()
    sessions = session_factory(settings.database_url)
    folder = settings.outbox_dir / "followups"
    key = today.isoformat()
    with sessions() as session, session.begin():
        rows = followup_call_rows(session, today)
        result = publish_rows(
            session,
            "followup_calls",
            key,
            rows,
            folder / key,
            key="survey_id",
            stem="call_list",
            headers_zh=CALL_HEADERS_ZH,
            columns=CALL_COLUMNS,
            fill_in_zh=CALL_FILL_IN_ZH,
        )
    with sessions() as session:
        finish_publication(session, "followup_calls", key, folder)
    for old in folder.iterdir():
        if old.is_dir() and (old.name < key or (old.name == key and result.row_count == 0)):
            shutil.rmtree(old)
    artifacts.link(
        f"followup-calls-{key}",
        result.path.resolve().as_uri(),
        f"回访电话清单 {key} v{result.version}",
        description=f"{result.row_count} 通待回访电话",
    )
    return result
