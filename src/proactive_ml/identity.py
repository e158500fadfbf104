"""Identity of a send and of a person, as opaque ids safe to put anywhere (logs, MLflow, SendGrid custom_args).

The send key is born with the decision (customer, playbook, send window) and travels through rendering,
delivery (``custom_args``), events, replies and ratings: it is how everything is deduplicated and attributed.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date


def send_key(customer_id: str, playbook: str, window_start: date | str, salt: str = "send-key-v1") -> str:
    """Opaque, deterministic id of one (customer, playbook, window). Same inputs, same key, on every rerun."""
    raw = f"{salt}|{customer_id}|{playbook}|{window_start}".encode()
    return "sk_" + hashlib.sha256(raw).hexdigest()[:32]


def email_hash(email: str) -> str:
    """SHA-256 of the normalised address: the minimal record kept for suppression after erasure."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def sign_token(payload: str, secret: str) -> str:
    """``payload.signature`` with an HMAC-SHA256 signature (for unsubscribe and rating links)."""
    sig = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{payload}.{sig}"


def verify_token(token: str, secret: str) -> str | None:
    """The payload of a token signed with :func:`sign_token`, or None if it was forged or altered."""
    payload, _, sig = token.rpartition(".")
    if not payload or not sig:
        return None
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[:32]
    return payload if hmac.compare_digest(expected, sig) else None
