"""Publication tasks: the service list to files and table, and optionally to an HTTP endpoint."""

from __future__ import annotations

from datetime import datetime

from prefect import get_run_logger, task

from service.deliver import deliver_json
from service.publish import PublishResult, finish_publication, publish_service_list
from settings import get_settings
from store.db import session_factory
from store.models import Delivery
from store.publication import latest_publication
from tasks import artifacts


@task(retries=2, retry_delay_seconds=3)
def publish_cycle_list(cycle_id: str) -> PublishResult:
    """Publish a new version only if the list changed; move ``latest.json`` after the commit."""
    settings = get_settings()
    sessions = session_factory(settings.database_url)
    with sessions() as session, session.begin():
        result = publish_service_list(session, cycle_id, settings.published_dir)
    with sessions() as session:
        finish_publication(session, "service_list", cycle_id, settings.published_dir)
    log = get_run_logger()
    if result.created:
        log.info(
            "published %s v%d: %d rows, diff %s -> %s",
            cycle_id,
            result.version,
            result.row_count,
            result.diff.get("counts"),
            result.path,
        )
    else:
        log.info("service list %s unchanged: still v%d, nothing republished", cycle_id, result.version)
    artifacts.link(
        f"service-list-{cycle_id.lower()}",
        result.path.resolve().as_uri(),
        f"服务清单 {cycle_id} v{result.version}",
        description=f"{result.row_count} 行；{'新版本' if result.created else '内容未变，未重新发布'}；"
        f"变化 {result.diff.get('counts')}",
    )
    return result


@task(retries=0)
def push_cycle_list(cycle_id: str, url: str, attempts: int = 3) -> str:
    """POST the latest version to a downstream endpoint (with its own retries) and record the outcome."""
    settings = get_settings()
    sessions = session_factory(settings.database_url)
    with sessions() as session, session.begin():
        pub = latest_publication(session, "service_list", cycle_id)
        if pub is None:
            return "nothing published"
        document = (
            settings.published_dir / cycle_id / f"v{pub.version:04d}" / "service_list.json"
        ).read_text(encoding="utf-8")
        outcome = deliver_json(url, document, attempts=attempts)
        session.add(
            Delivery(
                publication_id=pub.id,
                url=url,
                status=outcome.status,
                attempts=outcome.attempts,
                http_status=outcome.http_status,
                error=outcome.error,
                at=datetime.now(),
            )
        )
    get_run_logger().info("delivery to %s: %s after %d attempt(s)", url, outcome.status, outcome.attempts)
    return outcome.status
