"""The real thing for end-to-end tests: ``scripts/serve.sh`` (server, work pool, deployments,
worker, inbox watcher) on free loopback ports, with a webhook that records what the alerts post;
and a headless browser for screenshots of the Prefect UI."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar
from uuid import UUID

from settings import PROJECT_ROOT

SERVE = PROJECT_ROOT / "scripts" / "serve.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        Hook.received.append(json.loads(body or b"{}"))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@contextmanager
def serve(tmp_path: Path, **extra: str) -> Iterator[tuple[str, dict]]:
    """``scripts/serve.sh start`` on free ports with a webhook listening; stopped afterwards."""
    hook = HTTPServer(("127.0.0.1", free_port()), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    port = free_port()
    proc_env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "THREELISTS_PREFECT_PORT": str(port),
        "THREELISTS_ALERT_WEBHOOK": f"http://127.0.0.1:{hook.server_port}/alert",
        # no scheduled runs: a deployment's cron (the 09:00 closed loop releasing last week's
        # dispatches, say) would otherwise fire whenever the clock passes it, mid-test, against
        # the test's district; tests start every run they want themselves
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        **extra,
    }
    proc_env.pop("PREFECT_SERVER_DATABASE_CONNECTION_URL", None)
    proc_env.pop("PREFECT_API_URL", None)
    try:
        out = subprocess.run(
            ["bash", str(SERVE), "start"], env=proc_env, capture_output=True, text=True, timeout=300
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert "failure alerts: on" in out.stdout
        yield f"http://127.0.0.1:{port}", proc_env
    finally:
        subprocess.run(["bash", str(SERVE), "stop"], env=proc_env, capture_output=True, timeout=120)
        hook.shutdown()


def chromium() -> str:
    found = shutil.which("chromium")
    assert found, "chromium is needed for the UI screenshots (apt-get install chromium; make test does)"
    return found


def resume_when_ready(run_id: UUID, run_input: dict, timeout: float = 60) -> None:
    """Resume a paused run with its form's answer, as the UI does, once the run has saved the
    form (it does so just after pausing)."""
    from prefect.flow_runs import resume_flow_run

    deadline = time.time() + timeout
    while True:
        try:
            resume_flow_run(run_id, run_input=run_input)
            return
        except RuntimeError as e:
            if "schema not found" not in str(e) or time.time() > deadline:
                raise
            time.sleep(0.5)
