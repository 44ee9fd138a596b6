"""Push a published document to a downstream HTTP endpoint, with retries and backoff."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class DeliveryOutcome:
    status: str  # delivered | failed
    attempts: int
    http_status: int | None
    error: str | None


def deliver_json(
    url: str, document: str, attempts: int = 3, backoff_s: float = 0.5, timeout_s: float = 10.0
) -> DeliveryOutcome:
    """POST ``document`` (JSON text); 2xx is delivered; 5xx and network errors are retried."""
    last_status, last_error = None, None
    for attempt in range(1, attempts + 1):
        try:
            resp = httpx.post(
                url,
                content=document.encode("utf-8"),
                timeout=timeout_s,
                headers={"content-type": "application/json; charset=utf-8"},
            )
            last_status = resp.status_code
            if resp.is_success:
                return DeliveryOutcome("delivered", attempt, resp.status_code, None)
            last_error = f"HTTP {resp.status_code}: {resp.text[:200]}"
            if resp.status_code < 500:
                return DeliveryOutcome("failed", attempt, resp.status_code, last_error)  # not worth retrying
        except httpx.HTTPError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        if attempt < attempts:
            time.sleep(backoff_s * 2 ** (attempt - 1))
    return DeliveryOutcome("failed", attempts, last_status, last_error)
