"""The SendGrid edge: Mail Send requests through the official ``sendgrid`` client, and retry timing.

:class:`SendGridSender` is the :class:`~proactive_ml.delivery.sender.EmailSender` for SendGrid itself and for the
local SendGrid-compatible sink (same API; the sink also answers an authoritative lookup of accepted send keys).
What a status means is decided by the caller (see :mod:`proactive_ml.outreach.dispatch`).
"""

from __future__ import annotations

import json
import random
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sendgrid
from python_http_client.exceptions import HTTPError

from proactive_ml.delivery.sender import Lookup, MailServerUnreachable, Reply

SINK_LOOKUP_BATCH = 5000


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
    headers: Mapping[str, Any] | None,
    now_epoch: float,
    policy: RetryPolicy,
    rng: random.Random,
    attempt: int = 1,
) -> float:
    """Seconds to wait after a 429: until ``X-RateLimit-Reset`` (epoch seconds) plus a random 0..jitter seconds.

    The jitter keeps many senders from coming back at the same instant; backoff if the header is missing.
    """
    try:
        reset: float | None = float((headers or {}).get("X-RateLimit-Reset"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        reset = None
    base = max(reset - now_epoch, 0.0) if reset is not None else backoff_delay(attempt, policy, rng)
    return min(base + rng.random() * policy.rate_limit_jitter_seconds, policy.max_rate_limit_wait)


class SendGridSender:
    """The official client (one per thread, created on first use); ``send`` never raises for HTTP errors."""

    def __init__(
        self, api_key: str, host: str, *, timeout: float = 30.0, lookup: Lookup | None = None
    ) -> None:
        self.host = host.rstrip("/")
        self.timeout = timeout
        self.lookup = lookup
        self._api_key = api_key
        self._local = threading.local()

    def _client(self) -> sendgrid.SendGridAPIClient:
        if not hasattr(self._local, "client"):
            self._local.client = sendgrid.SendGridAPIClient(api_key=self._api_key, host=self.host)
        return self._local.client

    def send(self, body: dict[str, Any]) -> Reply:
        """POST /v3/mail/send."""
        try:
            r = self._client().client.mail.send.post(request_body=body, timeout=self.timeout)
            return Reply(r.status_code, r.headers, _text(r.body))
        except HTTPError as exc:
            return Reply(exc.status_code, exc.headers, _text(exc.body))
        except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
            return Reply(None, None, f"{type(exc).__name__}: {exc}")


def _text(body: object) -> str:
    return body.decode(errors="replace") if isinstance(body, bytes) else str(body)


def sink_lookup(host: str, timeout: float = 30.0) -> Lookup:
    """Authoritative lookup against the local sink's extension ``POST /v3/_sink/accepted``."""
    url = f"{host.rstrip('/')}/v3/_sink/accepted"
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP URL: {url}")

    def lookup(keys: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for i in range(0, len(keys), SINK_LOOKUP_BATCH):
            req = urllib.request.Request(  # noqa: S310 - http(s) checked above
                url,
                data=json.dumps({"send_keys": keys[i : i + SINK_LOOKUP_BATCH]}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - http(s) checked above
                    out.update(json.loads(resp.read())["accepted"])
            except urllib.error.HTTPError:
                raise  # the server answered: not a connection problem
            except urllib.error.URLError as exc:
                raise MailServerUnreachable(host, exc.reason) from exc
            except (TimeoutError, ConnectionError) as exc:
                raise MailServerUnreachable(host, exc) from exc
        return out

    return lookup
