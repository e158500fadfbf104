"""Storage edge (read side) of outreach: scores, customers and the raw tables behind the signals.

Reads only data from before ``as_of`` and hands data frames to the pure modules (signals, playbooks, policy).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from proactive_ml.outreach.keys import attach, last_positions, positions, repeats, same_ids
from proactive_ml.outreach.signals import build_signals
from proactive_ml.warehouse import Warehouse

MAX_SCORE_AGE_DAYS = 31  # an older score is not a reason to write to anybody
VALUE_WINDOW_DAYS = (
    180  # trailing spend window for customer value (a customer lapsing for weeks keeps a value)
)
REASON_COLUMNS = ("reason_1", "reason_2", "reason_3")
CUSTOMER_COLUMNS = [
    "customer_id",
    "email",
    "name",
    "plan",
    "signup_date",
    "country",
    "timezone",
    "monthly_revenue",
    "marketing_consent",
    "cancelled_at",
    "owner",
]


def latest_scores(wh: Warehouse, as_of: datetime, target: str = "churn") -> pd.DataFrame:
    """Per customer, the newest score of ``target`` with cutoff <= as_of (at most MAX_SCORE_AGE_DAYS old)."""
    d = as_of.date()
    return wh.frame(
        """SELECT s.customer_id, s.score, s.reason_1, s.reason_2, s.reason_3, s.cutoff FROM scores s
           JOIN (SELECT customer_id, max(cutoff) AS cutoff FROM scores
                 WHERE target = :t AND cutoff <= :d AND cutoff > :oldest GROUP BY customer_id) m
             ON m.customer_id = s.customer_id AND m.cutoff = s.cutoff
           WHERE s.target = :t""",
        {"t": target, "d": d, "oldest": d - timedelta(days=MAX_SCORE_AGE_DAYS)},
    )


def _customers(wh: Warehouse) -> pd.DataFrame:
    return wh.frame(f"SELECT {', '.join(CUSTOMER_COLUMNS)} FROM customers")


def desk_people(wh: Warehouse) -> pd.DataFrame:
    """The desk's people (username, display_name, role, active): whom CS tasks can be assigned to."""
    return wh.query("SELECT username, display_name, role, active FROM desk_people ORDER BY username")


def _usage(wh: Warehouse, as_of: datetime) -> pd.DataFrame:
    return wh.frame(
        """SELECT customer_id,
                  sum(CASE WHEN ts >= :d14 THEN quantity ELSE 0 END) AS usage_14d,
                  sum(CASE WHEN ts < :d14 THEN quantity ELSE 0 END) AS usage_prev_14d
           FROM usage_events WHERE ts >= :d28 AND ts < :t GROUP BY customer_id""",
        {"t": as_of, "d14": as_of - timedelta(days=14), "d28": as_of - timedelta(days=28)},
    )


def _open_tickets(wh: Warehouse, as_of: datetime) -> pd.DataFrame:
    return wh.frame(
        """SELECT customer_id, opened_at, priority FROM tickets
           WHERE opened_at < :t AND ((closed_at IS NULL AND status IN ('open', 'pending')) OR closed_at >= :t)""",
        {"t": as_of},
    )


def _feedback(wh: Warehouse, as_of: datetime) -> pd.DataFrame:
    return wh.frame(
        "SELECT customer_id, survey_type, ts, score FROM feedback WHERE ts < :t AND ts >= :since",
        {"t": as_of, "since": as_of - timedelta(days=90)},
    )


def _spend(wh: Warehouse, as_of: datetime) -> pd.DataFrame:
    """Average monthly spend from usage event values over VALUE_WINDOW_DAYS (no rows when events carry none)."""
    return wh.frame(
        """SELECT customer_id, sum(value) * 30.0 / :days AS monthly_spend FROM usage_events
           WHERE value IS NOT NULL AND ts >= :since AND ts < :t GROUP BY customer_id""",
        {"t": as_of, "since": as_of - timedelta(days=VALUE_WINDOW_DAYS), "days": VALUE_WINDOW_DAYS},
    )


def reason_lists(reasons: pd.DataFrame) -> pd.Series:
    """Per row, the list of its reason codes: the texts of the reason columns, in order, empty and missing left out.

    Text columns are coded by their distinct values, the rows grouped by which of their reasons are present (at
    most 2**3 groups) and each group's lists made in one NumPy pass with the cyclic garbage collector paused: a
    million small lists built row by row, with collections running over them, cost seconds.
    """
    cols = [reasons[c] for c in reasons.columns]
    if not all(pd.api.types.is_string_dtype(c) or c.isna().all() for c in cols):
        rows = reasons.itertuples(index=False, name=None)
        return pd.Series([[r for r in rs if isinstance(r, str) and r] for rs in rows], index=reasons.index)
    coded = [_codes_and_texts(c) for c in cols]
    present = np.column_stack([(texts != "")[codes] for codes, texts in coded])
    values = np.column_stack([texts[codes] for codes, texts in coded])
    shape = present.astype(np.int64) @ (1 << np.arange(len(cols), dtype=np.int64))
    out = np.empty(len(reasons), dtype=object)
    with _collector_paused():
        for code in np.unique(shape):
            at = np.flatnonzero(shape == code)
            keep = np.flatnonzero((code >> np.arange(len(cols))) & 1)
            out[at] = np.fromiter(values[np.ix_(at, keep)].tolist(), dtype=np.object_, count=len(at))
    return pd.Series(out, index=reasons.index, dtype=object)


def _codes_and_texts(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes into the column's distinct texts, missing as the last code (text ''): no Python text per row."""
    codes, distinct = pd.factorize(column, use_na_sentinel=True)
    texts = np.append(np.asarray(distinct, dtype=object), "")
    return np.where(codes < 0, len(texts) - 1, codes), texts


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (lists of texts hold no cycles); re-enable it as it was."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def combine(
    scores: pd.DataFrame, customers: pd.DataFrame, signals: pd.DataFrame, need: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per scored customer (pure).

    Columns: customer attributes, churn ``score``, reasons (list of codes), ``need_score`` (the need model's
    probability of a ticket or a detractor answer within 30 days; NaN if not scored) and signals.
    """
    s = scores.copy()
    s["customer_id"] = s["customer_id"].astype(str)
    s["reasons"] = reason_lists(s[list(REASON_COLUMNS)])
    c = customers.copy()
    c["customer_id"] = c["customer_id"].astype(str)
    n = need if need is not None else pd.DataFrame(columns=["customer_id", "score"])
    n = n[["customer_id", "score"]].rename(columns={"score": "need_score"}).astype({"customer_id": str})
    n = n.astype({"need_score": float})
    left = s[["customer_id", "score", "reasons"]]
    names = [*left.columns, *c.columns.drop("customer_id"), "need_score", *signals.columns]
    if (
        len(set(names)) < len(names) or repeats(n["customer_id"]) or repeats(signals.index)
    ):  # a merge's suffixes or extra rows
        return _merged(left, c, n, signals)
    at = last_positions(left["customer_id"], c["customer_id"])  # the last row of a repeated customer
    out = attach(left[at >= 0], c.drop(columns="customer_id"), at[at >= 0])
    out = attach(out, n.drop(columns="customer_id"), positions(out["customer_id"], n["customer_id"]))
    if same_ids(
        signals.index, c["customer_id"]
    ):  # signals on the customers' rows (none repeated): same places
        return attach(out, signals, at[at >= 0])
    return attach(out, signals, positions(out["customer_id"], signals.index))


def _merged(left: pd.DataFrame, c: pd.DataFrame, n: pd.DataFrame, signals: pd.DataFrame) -> pd.DataFrame:
    """:func:`combine` by pandas merges (column name clashes, repeated need scores or signal rows)."""
    out = left.merge(c.drop_duplicates("customer_id", keep="last"), on="customer_id", how="inner")
    out = out.merge(n, on="customer_id", how="left")
    return out.merge(signals, left_on="customer_id", right_index=True, how="left")


def load_candidates(wh: Warehouse, as_of: datetime) -> pd.DataFrame:
    """The frame playbooks and policy work on (see :func:`combine`, plus ``monthly_spend``); empty if nothing is scored.

    ``monthly_spend`` is the trailing average monthly spend from usage event values (NaN without valued events).
    """
    scores = latest_scores(wh, as_of)
    if scores.empty:
        cols = ["customer_id", "score", "reasons", "need_score", *CUSTOMER_COLUMNS[1:], "monthly_spend"]
        return pd.DataFrame(columns=cols)
    customers = _customers(wh)
    signals = build_signals(
        customers, _usage(wh, as_of), _open_tickets(wh, as_of), _feedback(wh, as_of), as_of
    )
    out = combine(scores, customers, signals, latest_scores(wh, as_of, "need"))
    spend = _spend(wh, as_of).astype({"customer_id": str, "monthly_spend": float})
    if repeats(spend["customer_id"]) or "monthly_spend" in out.columns:
        return out.merge(spend, on="customer_id", how="left")
    return attach(out, spend[["monthly_spend"]], positions(out["customer_id"], spend["customer_id"]))
