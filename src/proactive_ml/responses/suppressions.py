"""The suppression list: who must never get a proactive email again (storage edge for table ``suppressions``).

The table is declared in ``proactive_ml.warehouse.schema``.

Keyed by the hash of the normalised email (and the customer id where known), so that an erased customer keeps only
a hashed record and a re-import cannot re-contact the person. Reasons: unsubscribe, group_unsubscribe, bounce,
spamreport, dropped, reply_stop, erased, objected.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from proactive_ml.identity import email_hash
from proactive_ml.warehouse import Warehouse

REASONS = (
    "unsubscribe",
    "group_unsubscribe",
    "bounce",
    "spamreport",
    "dropped",
    "reply_stop",
    "erased",
    "objected",
)


def add_suppression(
    wh: Warehouse,
    *,
    email: str | None = None,
    email_sha256: str | None = None,
    customer_id: str | None = None,
    reason: str,
    source: str,
    at: datetime,
) -> None:
    """Record one suppression (idempotent: the same address and reason is stored once)."""
    if reason not in REASONS:
        raise ValueError(f"unknown suppression reason {reason!r}; expected one of {REASONS}")
    digest = email_sha256 or (email_hash(email) if email else None)
    if digest is None:
        raise ValueError("a suppression needs an email or its sha256")
    wh.execute(
        "INSERT INTO suppressions (email_sha256, customer_id, reason, source, created_at) "
        "VALUES (:h, :c, :r, :s, :t) ON CONFLICT DO NOTHING",
        {"h": digest, "c": customer_id, "r": reason, "s": source, "t": at},
    )


def suppressed_hashes(wh: Warehouse) -> set[str]:
    """Every suppressed email hash."""
    return set(wh.query("SELECT DISTINCT email_sha256 FROM suppressions")["email_sha256"])


def is_suppressed(wh: Warehouse, email: str) -> bool:
    """True if this address must not be emailed."""
    return bool(
        wh.scalar("SELECT count(*) FROM suppressions WHERE email_sha256 = :h", {"h": email_hash(email)})
    )


def suppression_frame(wh: Warehouse) -> pd.DataFrame:
    """The whole list (hashes only, no addresses)."""
    return wh.query("SELECT * FROM suppressions ORDER BY created_at")
