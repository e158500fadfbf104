"""Validate, dedupe and derive-suppressions steps of the responses flow (pure functions over frames and rows).

In: parsed rows with the row mask of their GX suite (:func:`proactive_ml.responses.checks.check_frame`), attributed
rows. Out: the valid rows and the quarantines of the invalid ones; rows without duplicates; the suppression list
additions; the quarantine rows to write. The warehouse's unique constraints stay the final guard against
duplicates across runs (:mod:`proactive_ml.responses.write`).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from proactive_ml.responses.attribute import EVENT_COLUMNS, Suppression
from proactive_ml.responses.checks import SuiteResult
from proactive_ml.responses.parse import Rejected

SUPPRESSING_EVENTS = {
    "unsubscribe": "unsubscribe",
    "group_unsubscribe": "group_unsubscribe",
    "bounce": "bounce",
    "spamreport": "spamreport",
    "dropped": "dropped",
}
QUARANTINE_COLUMNS = ["raw_id", "kind", "item", "reason", "created_at"]


# ------------------------------------------------------------------ validate
def validate_events(events: pd.DataFrame, result: SuiteResult) -> tuple[pd.DataFrame, Rejected]:
    """Keep the events the suite accepts; each invalid one is quarantined as an item of its request."""
    valid = result.valid.to_numpy()
    rejected = Rejected()
    for i in np.flatnonzero(~valid):
        row = events.iloc[i]
        rejected.items.append(
            (int(row["raw_id"]), "events", int(row["item"]), f"invalid: {result.reasons.iloc[i]}")
        )
    return events[valid].copy(), rejected


def validate_replies(replies: pd.DataFrame, result: SuiteResult) -> tuple[pd.DataFrame, Rejected]:
    """Keep the replies the suite accepts; an invalid reply quarantines its whole request."""
    valid = result.valid.to_numpy()
    rejected = Rejected()
    for i in np.flatnonzero(~valid):
        rejected.requests[int(replies.iloc[i]["raw_id"])] = f"invalid reply: {result.reasons.iloc[i]}"
    return replies[valid], rejected


# ------------------------------------------------------------------ dedupe
def dedupe_events(events: pd.DataFrame) -> pd.DataFrame:
    """One row per event: content key first, then the vendor id (ids change on retries); columns of the table."""
    ok = events.sort_values(["raw_id", "item"]).drop_duplicates("dedupe_key")
    has_id = ok["sg_event_id"].notna()
    ok = pd.concat([ok[has_id].drop_duplicates("sg_event_id"), ok[~has_id]]).sort_values(["raw_id", "item"])
    return ok[EVENT_COLUMNS]


def dedupe_replies(replies: pd.DataFrame) -> pd.DataFrame:
    """One row per reply id (a reply posted twice by Inbound Parse)."""
    return replies.drop_duplicates("reply_id")


def latest_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    """One rating per send: the latest answer wins (a person may correct a click)."""
    return ratings.sort_values("rated_at").drop_duplicates("send_key", keep="last")


# ------------------------------------------------------------------ suppressions
def event_suppressions(events: pd.DataFrame) -> list[Suppression]:
    """Unsubscribe, group unsubscribe, bounce, spam report and dropped events -> suppressions of the address."""
    return [
        {
            "email_sha256": e.email_sha256,
            "customer_id": e.customer_id,
            "reason": SUPPRESSING_EVENTS[e.event],
            "source": "event_webhook",
        }
        for e in events.itertuples(index=False)
        if e.event in SUPPRESSING_EVENTS and e.email_sha256
    ]


def derive_suppressions(*sources: list[Suppression]) -> list[Suppression]:
    """All suppressions, one per (address hash, reason); a later source's customer id wins."""
    merged = {(s["email_sha256"], s["reason"]): s for source in sources for s in source}
    return list(merged.values())


# ------------------------------------------------------------------ quarantine
def merge_rejected(*parts: Rejected) -> Rejected:
    """All refusals of a run, in the order of the steps that made them."""
    out = Rejected()
    for part in parts:
        out.items.extend(part.items)
        out.requests.update(part.requests)
    return out


def quarantine_rows(rejected: Rejected, at: datetime) -> pd.DataFrame:
    """``response_quarantine`` rows: refused items, then refused requests (item -1); one per (request, item)."""
    rows = [*rejected.items, *((rid, "request", -1, reason) for rid, reason in rejected.requests.items())]
    frame = pd.DataFrame(
        [(rid, kind, item, reason[:500], at) for rid, kind, item, reason in rows], columns=QUARANTINE_COLUMNS
    )
    return frame.drop_duplicates(["raw_id", "item"])
