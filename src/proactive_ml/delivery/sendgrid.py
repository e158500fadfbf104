"""The SendGrid edge: Mail Send requests through the official ``sendgrid`` client, with retry timing.

``SendGridTransport.post(body) -> Reply`` never raises for HTTP errors; the caller decides (see
:mod:`proactive_ml.outreach.dispatch`). The host is SendGrid itself or the local SendGrid-compatible sink.
"""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Lookup = Callable[[list[str]], dict[str, str]]


class DeliveryError(RuntimeError):
    """A problem no retry can fix (bad API key, forbidden): stop and tell a person."""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: backoff for 5xx/timeouts, waits for 429."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.5
    rate_limit_jitter_seconds: float = 1.0
    max_rate_limit_waits: int = 20
    max_rate_limit_wait: float = 300.0
    timeout: float = 30.0


def backoff_delay(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Delay before retry ``attempt`` (1-based): min(max, base*2^(attempt-1)) reduced by up to ``jitter`` share."""
    d = min(policy.max_delay, policy.base_delay * 2 ** max(attempt - 1, 0))
    return d * (1.0 - policy.jitter * rng.random())


def rate_limit_delay(
    headers: Any, now_epoch: float, policy: RetryPolicy, rng: random.Random, attempt: int = 1
) -> float:
    """Seconds to wait after a 429: until ``X-RateLimit-Reset`` (epoch seconds) plus a random 0..jitter seconds
    so that many senders do not all come back at the same instant; backoff if the header is missing.
    """
    reset = None
    try:
        reset = float((headers or {}).get("X-RateLimit-Reset"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        reset = None
    base = max(reset - now_epoch, 0.0) if reset is not None else backoff_delay(attempt, policy, rng)
    return min(base + rng.random() * policy.rate_limit_jitter_seconds, policy.max_rate_limit_wait)


@dataclass
class Reply:
    """What came back from one request: status (None = no answer: timeout/connection error), headers, body."""

    status: int | None
    headers: Any = None
    body: str = ""


class SendGridTransport:
    """The official client, one instance per thread. ``post(body) -> Reply`` never raises for HTTP errors."""

    def __init__(self, api_key: str, host: str, timeout: float = 30.0) -> None:
        import sendgrid

        self.client = sendgrid.SendGridAPIClient(api_key=api_key, host=host)
        self.timeout = timeout

    def post(self, body: dict[str, Any]) -> Reply:
        """POST /v3/mail/send."""
        from python_http_client.exceptions import HTTPError

        try:
            r = self.client.client.mail.send.post(request_body=body, timeout=self.timeout)
            return Reply(
                r.status_code, r.headers, r.body.decode() if isinstance(r.body, bytes) else str(r.body)
            )
        except HTTPError as exc:
            b = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else str(exc.body)
            return Reply(exc.status_code, exc.headers, b)
        except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
            return Reply(None, None, f"{type(exc).__name__}: {exc}")


def sink_lookup(host: str, timeout: float = 30.0) -> Lookup:
    """Authoritative lookup against the local sink's extension ``POST /v3/_sink/accepted``."""

    def lookup(keys: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for i in range(0, len(keys), 5000):
            req = urllib.request.Request(
                f"{host.rstrip('/')}/v3/_sink/accepted",
                data=json.dumps({"send_keys": keys[i : i + 5000]}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - local sink URL from settings
                out.update(json.loads(resp.read())["accepted"])
        return out

    return lookup


def resolve_host(settings: Any, host: str | None = None) -> str:
    """The API host: explicit, else settings.sendgrid_host, else the local sink default."""
    return (host or settings.sendgrid_host or "http://127.0.0.1:3025").rstrip("/")


def is_sendgrid(host: str) -> bool:
    """True for the real SendGrid API (no sink extension there)."""
    return "sendgrid.com" in host
