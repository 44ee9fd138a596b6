"""Watch the inbox and tell Prefect when files arrive (started by ``scripts/serve.sh``).

Every few seconds it lists ``var/inbox/*/``; once new files have stopped arriving for a quiet
period (``THREELISTS_WATCH_QUIET_SECONDS``, default 15 s: a burst of files is one event), it emits
``threelists.inbox.files-arrived`` (resource ``threelists.inbox``; the payload names the files,
never their contents). The collect deployment's trigger in ``prefect.yaml`` starts a run on it;
the daily schedule stays as the safety net. Files already waiting when it starts are announced too.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from prefect.events import emit_event

from settings import get_settings

log = logging.getLogger("threelists.watch_inbox")


def snapshot(inbox: Path) -> dict[str, tuple[int, float]]:
    """Waiting files (not hidden, not being written under a temporary name) by path."""
    out = {}
    for folder in sorted(p for p in inbox.iterdir() if p.is_dir()) if inbox.exists() else []:
        for f in folder.iterdir():
            if f.is_file() and not f.name.startswith((".", "~$")) and not f.name.endswith((".tmp", ".part")):
                st = f.stat()
                out[f"{folder.name}/{f.name}"] = (st.st_size, st.st_mtime)
    return out


def announce(files: list[str]) -> None:
    folders = sorted({f.split("/", 1)[0] for f in files})
    emit_event(
        event="threelists.inbox.files-arrived",
        resource={"prefect.resource.id": "threelists.inbox", "prefect.resource.name": "收件箱"},
        related=[
            {"prefect.resource.id": f"threelists.inbox.{d}", "prefect.resource.role": "inbox-folder"}
            for d in folders
        ],
        payload={"files": files[:200], "count": len(files), "folders": folders},
    )
    log.info("announced %d file(s): %s", len(files), ", ".join(files[:10]))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    inbox = get_settings().inbox_dir
    poll = float(os.environ.get("THREELISTS_WATCH_POLL_SECONDS", "3"))
    quiet = float(os.environ.get("THREELISTS_WATCH_QUIET_SECONDS", "15"))
    announced: dict[str, tuple[int, float]] = {}
    pending: dict[str, tuple[int, float]] = {}
    last_change = time.monotonic()
    log.info("watching %s (poll %.0f s, quiet %.0f s)", inbox, poll, quiet)
    while True:
        now = snapshot(inbox)
        fresh = {k: v for k, v in now.items() if announced.get(k) != v and pending.get(k) != v}
        if fresh:
            pending.update(fresh)
            last_change = time.monotonic()
        if pending and time.monotonic() - last_change >= quiet:
            waiting = sorted(k for k in pending if k in now)
            if waiting:
                try:
                    announce(waiting)
                except Exception as e:  # the server may be restarting: try again next round
                    log.warning("could not announce: %s", e)
                    time.sleep(poll)
                    continue
            announced.update(pending)
            pending.clear()
        # files collected (archived) leave the inbox: forget them, so the same name can come again
        announced = {k: v for k, v in announced.items() if k in now}
        time.sleep(poll)


if __name__ == "__main__":
    main()
