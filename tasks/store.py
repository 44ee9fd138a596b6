"""Tasks that prepare the store: migrations, the catalogue, the district registry."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task

from reference import load_taxonomy_frame
from settings import get_settings
from store.db import session_factory, upgrade_database
from store.reference import load_district_registry, load_taxonomy


@task(retries=2, retry_delay_seconds=5)
def prepare_store(registry: Path | None = None) -> dict[str, int]:
    """Upgrade the schema, load the catalogue and (when given) the district registry."""
    settings = get_settings()
    settings.ensure_dirs()
    upgrade_database(settings.database_url)
    with session_factory(settings.database_url)() as session, session.begin():
        counts = {"items": load_taxonomy(session, load_taxonomy_frame())}
        if registry is not None:
            counts |= load_district_registry(session, registry)
    get_run_logger().info("store ready: %s", counts)
    return counts
