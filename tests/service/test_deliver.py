"""Pushing a published list downstream: retries on 5xx and network errors, not on 4xx."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

from service.deliver import deliver_json


class _Flaky(BaseHTTPRequestHandler):
    plan: ClassVar[list[int]] = []
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        _Flaky.bodies.append(self.rfile.read(int(self.headers["content-length"])))
        self.send_response(_Flaky.plan.pop(0) if _Flaky.plan else 200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def _serve():
    server = HTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_delivery_retries_server_errors_then_succeeds():
    server = _serve()
    _Flaky.plan, _Flaky.bodies = [503, 500], []
    try:
        out = deliver_json(
            f"http://127.0.0.1:{server.server_port}/lists", '{"rows": ["王**"]}', attempts=3, backoff_s=0.01
        )
    finally:
        server.shutdown()
    assert (out.status, out.attempts, out.http_status) == ("delivered", 3, 200)
    assert _Flaky.bodies[-1].decode("utf-8") == '{"rows": ["王**"]}'


def test_delivery_gives_up_on_client_errors_and_unreachable_hosts():
    server = _serve()
    _Flaky.plan = [422]
    try:
        bad = deliver_json(f"http://127.0.0.1:{server.server_port}/lists", "{}", attempts=3, backoff_s=0.01)
    finally:
        server.shutdown()
    assert (bad.status, bad.attempts, bad.http_status) == ("failed", 1, 422)
    gone = deliver_json("http://127.0.0.1:9/closed", "{}", attempts=2, backoff_s=0.01, timeout_s=1)
    assert (gone.status, gone.attempts) == ("failed", 2) and "ConnectError" in gone.error
