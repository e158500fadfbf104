"""The responses flow: stored receiver requests -> events, replies, ratings and suppressions in the warehouse.

:func:`process_responses` reads the raw requests the receiver stored and has not processed yet, and runs the steps
top to bottom, each a function of its own module:

1. **parse** (:mod:`~proactive_ml.responses.parse`) event batches, Inbound Parse replies, one-click unsubscribes
   and ratings; hostile input is quarantined with a reason, never raised;
2. **validate** events and replies with their GX suites (``expectations/email_events.json``, ``replies.json``;
   :mod:`~proactive_ml.responses.checks`, :mod:`~proactive_ml.responses.steps`);
3. **attribute** everything to its send (:mod:`~proactive_ml.responses.attribute`);
4. **dedupe** events on ``sg_event_id`` *and* on (send key, event, timestamp) - ids change on retries and are
   missing on unsubscribe events - with unique constraints in the warehouse as the final guard;
5. **derive suppressions** (unsubscribe, group_unsubscribe, bounce, spamreport, dropped, reply_stop);
6. **write** everything in one transaction (:mod:`~proactive_ml.responses.write`), then mark the raw requests
   processed or quarantined. Rerunning adds nothing (idempotent).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

import pandas as pd

from proactive_ml.responses import store as fstore
from proactive_ml.responses.attribute import (
    EVENT_COLUMNS,
    RATING_COLUMNS,
    REPLY_COLUMNS,
    AttributedClicks,
    SendIndex,
    Suppression,
    attribute_clicks,
    attribute_events,
    attribute_replies,
)
from proactive_ml.responses.checks import SuiteResult, check_frame
from proactive_ml.responses.parse import Rejected, parse_clicks, parse_events, parse_replies
from proactive_ml.responses.steps import (
    dedupe_events,
    dedupe_replies,
    derive_suppressions,
    event_suppressions,
    latest_ratings,
    merge_rejected,
    quarantine_rows,
    validate_events,
    validate_replies,
)
from proactive_ml.responses.store import RawRequest, RawStore
from proactive_ml.responses.write import ResponseRows, recipient_hash_from_events, write_rows
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse

Check = Callable[[pd.DataFrame, str], SuiteResult]  # check_frame with settings, as_of and use_gx bound


def _summary(requests: int) -> dict[str, Any]:
    return {
        "requests": requests,
        "events_received": 0,
        "events_new": 0,
        "events_duplicate": 0,
        "events_quarantined": 0,
        "replies_new": 0,
        "replies_quarantined": 0,
        "auto_replies": 0,
        "ratings": 0,
        "unsubscribes": 0,
        "suppressions_added": 0,
        "requests_quarantined": 0,
        "gx": {},
    }


def _of_kind(pending: list[RawRequest], *kinds: str) -> list[RawRequest]:
    return [p for p in pending if p.kind in kinds]


def _events(
    pending: list[RawRequest], idx: SendIndex, check: Check, as_of: datetime, summary: dict[str, Any]
) -> tuple[pd.DataFrame, Rejected, Rejected]:
    """Parse -> validate -> attribute -> dedupe the event batches; (new events, parse and validation refusals)."""
    events, parse_rejected = parse_events(_of_kind(pending, "events"))
    summary["events_received"] = len(events)
    if events.empty:
        return pd.DataFrame(columns=EVENT_COLUMNS), parse_rejected, Rejected()
    result = check(events, "email_events")
    summary["gx"]["email_events"] = {"gx_success": result.gx_success, "failures": result.failures}
    valid, invalid = validate_events(events, result)
    summary["events_quarantined"] = len(invalid.items) + len(parse_rejected.items)
    return dedupe_events(attribute_events(valid, idx, as_of)), parse_rejected, invalid


def _replies(
    pending: list[RawRequest], idx: SendIndex, check: Check, as_of: datetime, summary: dict[str, Any]
) -> tuple[pd.DataFrame, list[Suppression], Rejected]:
    """Parse -> attribute -> validate -> dedupe the Inbound Parse replies; (replies, stop requests, refusals)."""
    parsed, rejected = parse_replies(_of_kind(pending, "inbound"))
    replies, stops = attribute_replies(parsed, idx, as_of)
    if replies.empty:
        return replies, stops, rejected
    result = check(replies, "replies")
    summary["gx"]["replies"] = {"gx_success": result.gx_success, "failures": result.failures}
    valid, invalid = validate_replies(replies, result)
    replies = dedupe_replies(valid)
    summary["replies_quarantined"] = int((~result.valid).sum())
    summary["auto_replies"] = int(replies["is_auto"].sum())
    return replies, stops, merge_rejected(rejected, invalid)


def _clicks(
    pending: list[RawRequest],
    wh: Warehouse,
    idx: SendIndex,
    events: pd.DataFrame,
    secret: str,
    as_of: datetime,
) -> tuple[AttributedClicks, Rejected]:
    """Parse -> attribute the unsubscribe and rating clicks; the address of a send may come from its events."""
    clicks, rejected = parse_clicks(_of_kind(pending, "unsubscribe", "rating"), secret)
    found = attribute_clicks(clicks, idx, partial(recipient_hash_from_events, wh, events), as_of)
    return found, rejected


def _mark(
    raw: RawStore, pending: list[RawRequest], rejected: Rejected, waiting: set[int], at: datetime
) -> None:
    """Processed for everything taken; quarantined (with the reason) for refused requests; waiting stay new."""
    raw.mark(
        [p.id for p in pending if p.id not in rejected.requests and p.id not in waiting], "processed", at
    )
    for rid, reason in rejected.requests.items():
        raw.mark([rid], "quarantined", at, note=reason[:500])


def process_responses(
    wh: Warehouse,
    settings: Settings,
    as_of: datetime,
    *,
    store: RawStore | None = None,
    limit: int = 200_000,
    use_gx: bool = True,
) -> dict[str, Any]:
    """Turn stored receiver requests into email_events/replies/ratings rows and suppressions (idempotent).

    ``as_of`` is the processing time recorded on new rows and suppressions. Returns counts per step. When the
    warehouse refuses a run's rows (and still answers), the requests are processed in halves until the one it
    refuses is found: that request is quarantined (``unstorable: <error type>``) and every other one processed,
    so one poison request never blocks the flow. A warehouse that does not answer, or a failure of every request
    (a fault of the code or the warehouse, not of one request's data), stops the run as before.
    """
    as_of = pd.Timestamp(as_of).to_pydatetime().replace(tzinfo=None)
    raw = store or RawStore(fstore.raw_store_path(settings))
    pending = raw.pending(limit)
    summary = _summary(len(pending))
    refused = _process_isolating(wh, settings, as_of, raw, pending, use_gx, summary) if pending else []
    if len(refused) > 1 and len(refused) == len(
        pending
    ):  # every request fails: a fault of the run, not of data
        raise refused[0][1]
    for request, exc in refused:
        _quarantine_unstorable(wh, raw, request, f"unstorable: {type(exc).__name__}", as_of)
        summary["requests_quarantined"] += 1
    return summary


def _process_isolating(
    wh: Warehouse,
    settings: Settings,
    as_of: datetime,
    raw: RawStore,
    pending: list[RawRequest],
    use_gx: bool,
    summary: dict[str, Any],
) -> list[tuple[RawRequest, Exception]]:
    """Process ``pending``; if the warehouse refuses the rows, bisect. Returns the requests refused alone."""
    try:
        _add(summary, _process_batch(wh, settings, as_of, raw, pending, use_gx))
        return []
    except Exception as exc:
        if not _answers(wh):
            raise
        if len(pending) == 1:
            return [(pending[0], exc)]
    half = len(pending) // 2
    return [
        *_process_isolating(wh, settings, as_of, raw, pending[:half], False, summary),
        *_process_isolating(wh, settings, as_of, raw, pending[half:], False, summary),
    ]


def _answers(wh: Warehouse) -> bool:
    """True when the warehouse still runs a query (the failure was about the rows, not the connection)."""
    try:
        wh.scalar("SELECT 1")
    except Exception:
        return False
    return True


def _quarantine_unstorable(
    wh: Warehouse, raw: RawStore, request: RawRequest, reason: str, at: datetime
) -> None:
    rows = ResponseRows(
        events=pd.DataFrame(columns=EVENT_COLUMNS),
        replies=pd.DataFrame(columns=REPLY_COLUMNS),
        ratings=pd.DataFrame(columns=RATING_COLUMNS),
        suppressions=[],
        quarantine=quarantine_rows(Rejected(requests={request.id: reason}), at),
    )
    write_rows(wh, rows, at)
    raw.mark([request.id], "quarantined", at, note=reason)


def _add(summary: dict[str, Any], part: dict[str, Any]) -> None:
    """Add one (partial) run's counts to the summary (``requests`` is the whole run's, set once)."""
    for key, value in part.items():
        if key == "gx":
            summary["gx"].update(value)
        elif key != "requests":
            summary[key] = summary.get(key, 0) + value


def _process_batch(
    wh: Warehouse, settings: Settings, as_of: datetime, raw: RawStore, pending: list[RawRequest], use_gx: bool
) -> dict[str, Any]:
    """Every step over ``pending``: parse, validate, attribute, dedupe, derive, write, mark. Returns counts."""
    summary = _summary(len(pending))
    idx = SendIndex.load(wh)
    check = partial(check_frame, settings=settings, as_of=as_of, use_gx=use_gx)
    events, event_parse_rejected, events_invalid = _events(pending, idx, check, as_of, summary)
    replies, stops, reply_rejected = _replies(pending, idx, check, as_of, summary)
    clicks, click_rejected = _clicks(
        pending, wh, idx, events, settings.signing_secret.get_secret_value(), as_of
    )
    summary["unsubscribes"] = len(clicks.unsubscribes)
    rejected = merge_rejected(event_parse_rejected, events_invalid, reply_rejected, click_rejected)
    rows = ResponseRows(
        events=events,
        replies=replies,
        ratings=latest_ratings(clicks.ratings),
        suppressions=derive_suppressions(event_suppressions(events), stops, clicks.unsubscribes),
        quarantine=quarantine_rows(rejected, as_of),
    )
    summary.update(write_rows(wh, rows, as_of))
    summary["events_duplicate"] = (
        summary["events_received"] - summary["events_quarantined"] - summary["events_new"]
    )
    summary["unsubscribes_waiting"] = len(clicks.waiting)
    _mark(raw, pending, rejected, clicks.waiting, as_of)
    summary["requests_quarantined"] = len(rejected.requests)
    return summary


def response_rates(wh: Warehouse) -> pd.DataFrame:
    """Per playbook: sends, and the share with a delivery, open, click, reply, unsubscribe; CSAT mean and count."""
    df = wh.query(
        """
        WITH s AS (SELECT send_key, playbook FROM send_ledger WHERE state = 'accepted'),
        e AS (SELECT send_key,
                max(CASE WHEN event = 'delivered' THEN 1 ELSE 0 END) AS delivered,
                max(CASE WHEN event = 'open' THEN 1 ELSE 0 END) AS opened,
                max(CASE WHEN event = 'click' THEN 1 ELSE 0 END) AS clicked,
                max(CASE WHEN event IN ('unsubscribe', 'group_unsubscribe') THEN 1 ELSE 0 END) AS unsub
              FROM email_events WHERE send_key IS NOT NULL GROUP BY send_key),
        r AS (SELECT DISTINCT send_key FROM replies WHERE NOT is_auto AND send_key IS NOT NULL)
        SELECT s.playbook, count(*) AS sent,
          avg(coalesce(e.delivered, 0)) AS delivered, avg(coalesce(e.opened, 0)) AS open,
          avg(coalesce(e.clicked, 0)) AS click,
          avg(CASE WHEN r.send_key IS NULL THEN 0 ELSE 1 END) AS reply,
          avg(coalesce(e.unsub, 0)) AS unsubscribe,
          avg(rt.score) AS csat_mean, count(rt.score) AS ratings
        FROM s LEFT JOIN e ON e.send_key = s.send_key LEFT JOIN r ON r.send_key = s.send_key
        LEFT JOIN ratings rt ON rt.send_key = s.send_key
        GROUP BY s.playbook ORDER BY s.playbook
        """
    )
    return df
