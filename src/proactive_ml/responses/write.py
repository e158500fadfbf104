"""Write step of the responses flow: new rows and suppressions into the warehouse, in one transaction.

In: deduplicated event, reply and rating rows, suppressions and quarantine rows. Out: the warehouse tables
``email_events``, ``replies``, ``ratings``, ``suppressions`` and ``response_quarantine``, and counts of what was new.
Unique keys in the warehouse decide what is new, so rerunning adds nothing; on PostgreSQL an advisory lock lets
overlapping runs take turns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from proactive_ml.responses import suppressions as suppression
from proactive_ml.responses.attribute import (
    EVENT_COLUMNS,
    RATING_COLUMNS,
    REPLY_COLUMNS,
    SendIndex,
    Suppression,
)
from proactive_ml.warehouse import Warehouse

ADVISORY_LOCK_KEY = 5_807_311_006  # PostgreSQL advisory lock serialising responses-flow writes


@dataclass
class ResponseRows:
    """Everything one run writes."""

    events: pd.DataFrame
    replies: pd.DataFrame
    ratings: pd.DataFrame
    suppressions: list[Suppression]
    quarantine: pd.DataFrame


def lock(wh: Warehouse) -> None:
    """Serialise responses-flow writers on PostgreSQL (transaction-scoped advisory lock)."""
    if wh.backend == "postgres":
        wh.execute("SELECT pg_advisory_xact_lock(:k)", {"k": ADVISORY_LOCK_KEY})


def write_rows(wh: Warehouse, rows: ResponseRows, at: datetime) -> dict[str, int]:
    """Insert what is new in one transaction; counts of new events, replies, ratings and suppressions."""
    with wh.transaction():
        lock(wh)  # overlapping runs (Prefect does that) take turns; dedupe then sees the other's rows
        counts = {
            "events_new": _insert_new_events(wh, rows.events),
            "replies_new": _insert_ignore(wh, "replies", rows.replies, REPLY_COLUMNS, "reply_id"),
            "ratings": _upsert_ratings(wh, rows.ratings),
        }
        before = wh.row_count("suppressions")
        for s in rows.suppressions:
            suppression.add_suppression(wh, at=at, **s)
        counts["suppressions_added"] = wh.row_count("suppressions") - before
        if not rows.quarantine.empty:
            q = rows.quarantine
            _insert_ignore(wh, "response_quarantine", q, list(q.columns), ["raw_id", "item"])
    return counts


def recipient_hash_from_events(wh: Warehouse, new_events: pd.DataFrame, send_key: str) -> str | None:
    """The recipient's address hash as seen on the send's events (when the customers table cannot tell)."""
    hit = new_events.loc[new_events["send_key"] == send_key, "email_sha256"].dropna()
    if len(hit):
        return str(hit.iloc[0])
    found = wh.scalar("SELECT max(email_sha256) FROM email_events WHERE send_key = :k", {"k": send_key})
    return str(found) if found else None


def suppress_send(wh: Warehouse, send_key: str, *, reason: str, source: str, at: datetime) -> bool:
    """Suppress the recipient of ``send_key``; False when the send or its address is unknown."""
    idx = SendIndex.load(wh)
    cid, _, h = idx.customer(send_key)
    if not h:
        return False
    suppression.add_suppression(wh, email_sha256=h, customer_id=cid, reason=reason, source=source, at=at)
    return True


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns as strings, so an all-null column still stages as TEXT (not DuckDB's NULL type)."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object and not out[c].map(lambda v: isinstance(v, (bool, np.bool_))).any():
            out[c] = out[c].astype("string")
    return out


def _insert_new_events(wh: Warehouse, df: pd.DataFrame) -> int:
    """Insert events whose dedupe key and sg_event_id are both unseen; returns the number inserted."""
    if df.empty:
        return 0
    frame = _typed(df)
    with wh.staged(frame, "_fb_events") as t:
        fresh = wh.query(
            f"SELECT n.dedupe_key FROM {t} n WHERE NOT EXISTS (SELECT 1 FROM email_events e WHERE "
            f"e.dedupe_key = n.dedupe_key) AND (n.sg_event_id IS NULL OR NOT EXISTS (SELECT 1 FROM email_events e "
            f"WHERE e.sg_event_id = n.sg_event_id))"
        )
    keep = frame[frame["dedupe_key"].isin(set(fresh["dedupe_key"]))]
    if keep.empty:
        return 0
    wh.insert_frame("email_events", keep, EVENT_COLUMNS)
    return len(keep)


def _insert_ignore(wh: Warehouse, table: str, df: pd.DataFrame, cols: list[str], key: str | list[str]) -> int:
    """Insert rows whose key is not in ``table`` yet."""
    if df.empty:
        return 0
    keys = [key] if isinstance(key, str) else key
    with wh.staged(_typed(df[cols]), "_fb_rows") as t:
        cond = " AND ".join(f"x.{k} = n.{k}" for k in keys)
        n = wh.scalar(f"SELECT count(*) FROM {t} n WHERE NOT EXISTS (SELECT 1 FROM {table} x WHERE {cond})")
        wh.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join('n.' + c for c in cols)} FROM {t} n "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} x WHERE {cond})"
        )
    return int(n or 0)


def _upsert_ratings(wh: Warehouse, df: pd.DataFrame) -> int:
    """One rating per send: the latest answer wins (a person may correct a click)."""
    if df.empty:
        return 0
    cols = RATING_COLUMNS
    frame = _typed(df[cols])
    frame["score"] = frame["score"].astype("int64")
    with wh.staged(frame, "_fb_ratings") as t:
        wh.execute(
            f"DELETE FROM ratings WHERE send_key IN (SELECT n.send_key FROM {t} n JOIN ratings r "
            f"ON r.send_key = n.send_key WHERE n.rated_at >= r.rated_at)"
        )
        wh.execute(
            f"INSERT INTO ratings ({', '.join(cols)}) SELECT {', '.join('n.' + c for c in cols)} FROM {t} n "
            f"WHERE NOT EXISTS (SELECT 1 FROM ratings r WHERE r.send_key = n.send_key)"
        )
    return len(frame)
