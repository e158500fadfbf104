"""Simple per-customer signals for playbook rules (pure: aggregated frames in, one frame out).

Everything is computed strictly before ``as_of`` (the warehouse reader filters by time; these functions only
combine). Columns: tenure_days, days_to_renewal, usage_14d, usage_prev_14d, usage_trend, open_tickets,
oldest_open_ticket_days, urgent_open_tickets, last_nps, days_since_nps, last_csat.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from proactive_ml.outreach.keys import shared_codes


def days_to_anniversary(signup: pd.Series, as_of: date) -> pd.Series:
    """Days until the next yearly anniversary of the signup date (annual renewal), 0..365.

    A 29 February signup renews on 28 February in a year without one. Computed once per distinct signup day (a
    few thousand at most), so a million customers cost no more than their distinct days.
    """
    days = pd.to_datetime(signup, errors="coerce")
    codes, distinct = pd.factorize(pd.DatetimeIndex(days).normalize())
    ref = pd.Timestamp(as_of).normalize()
    per_day = np.array([_anniversary_days(d, ref) for d in distinct] + [np.nan], dtype=float)
    return pd.Series(per_day[codes], index=signup.index, dtype=float)  # code -1 (no date) takes the NaN


def _anniversary_days(day: pd.Timestamp, ref: pd.Timestamp) -> float:
    """Days from ``ref`` to the next anniversary of ``day`` (both midnight), 0..365."""
    try:
        nxt = day.replace(year=ref.year)
    except ValueError:  # 29 February
        nxt = day.replace(year=ref.year, day=28)
    if nxt < ref:
        try:
            nxt = nxt.replace(year=ref.year + 1)
        except ValueError:
            nxt = nxt.replace(year=ref.year + 1, day=28)
    return float((nxt - ref).days)


def renews(customers: pd.DataFrame) -> np.ndarray:
    """Which customers renew something: those with a plan or a monthly revenue on record (a subscription).

    A shop's buyers (a purchase log without plans or revenue) renew nothing, so they get no renewal date and no
    renewal email. A frame without either column says nothing about it: every customer counts as renewing.
    """
    has = [c for c in ("plan", "monthly_revenue") if c in customers.columns]
    if not has:
        return np.ones(len(customers), dtype=bool)
    known = np.zeros(len(customers), dtype=bool)
    for c in has:
        col = customers[c]
        given = col.notna() if pd.api.types.is_numeric_dtype(col.dtype) else col.notna() & (col != "")
        known |= given.to_numpy(dtype=bool)  # vectorised: a million customers cost milliseconds
    return known


class _ByCustomer:
    """Per-customer values from source rows (usage, tickets, survey answers), put on the rows of the customer index.

    All ids are coded in one Arrow hashing pass (:func:`~proactive_ml.outreach.keys.shared_codes`); the rest is
    NumPy over integer codes, with what ``reindex`` and ``groupby`` gave: NaN (or 0 for counts) where a customer
    has no source row.
    """

    def __init__(self, idx: pd.Index, *sources: pd.Series | pd.Index) -> None:
        rows, *self.sources = shared_codes(idx, *sources)
        self.size = int(max((c.max(initial=-1) for c in (rows, *self.sources)), default=-1)) + 1
        self.rows = rows

    def _on_rows(self, per_code: np.ndarray) -> np.ndarray:
        return np.append(per_code, np.nan)[self.rows]  # code -1 (a missing id) takes the trailing NaN

    def value(self, source: int, values: pd.Series) -> np.ndarray:
        """The value of each customer's one row in ``source`` (NaN without one)."""
        codes, found = self.sources[source], self.sources[source] >= 0
        if np.bincount(codes[found], minlength=1).max() > 1:
            raise ValueError("cannot reindex on an axis with duplicate labels")  # reindex's words
        per_code = np.full(self.size, np.nan)
        per_code[codes[found]] = pd.to_numeric(values, errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        )[found]
        return self._on_rows(per_code)

    def count(self, source: int, where: np.ndarray | None = None) -> np.ndarray:
        """How many rows of ``source`` (those ``where`` is True) each customer has."""
        codes = self.sources[source]
        keep = codes >= 0 if where is None else (codes >= 0) & where
        return self._on_rows(np.bincount(codes[keep], minlength=self.size).astype(float))

    def largest(self, source: int, values: np.ndarray) -> np.ndarray:
        """The largest non-missing value among each customer's rows of ``source`` (NaN when none)."""
        codes, found = self.sources[source], self.sources[source] >= 0
        per_code = np.full(self.size, np.nan)
        np.fmax.at(per_code, codes[found], values[found])
        return self._on_rows(per_code)


def _usage_signals(out: pd.DataFrame, usage: pd.DataFrame, by: _ByCustomer) -> None:
    """usage_14d, usage_prev_14d (0 when missing) and usage_trend (their ratio; 1 without earlier usage)."""
    for col in ("usage_14d", "usage_prev_14d"):
        out[col] = np.nan_to_num(by.value(0, usage[col]), nan=0.0) if len(usage) else 0.0
    # as NumPy arrays: NumPy asking a Series (indexed by a million ids) for its attributes hashes the index
    prev, recent = out["usage_prev_14d"].to_numpy(dtype=float), out["usage_14d"].to_numpy(dtype=float)
    out["usage_trend"] = np.where(prev > 0, recent / np.where(prev > 0, prev, 1.0), 1.0)


def _ticket_rows(open_tickets: pd.DataFrame, ref: pd.Timestamp) -> pd.DataFrame:
    """The open tickets with text customer ids and their age in days at ``ref``."""
    t = open_tickets.assign(customer_id=open_tickets["customer_id"].astype(str))
    return t.assign(age=(ref - pd.to_datetime(t["opened_at"])).dt.total_seconds() / 86400.0)


def _ticket_signals(out: pd.DataFrame, tickets: pd.DataFrame, by: _ByCustomer) -> None:
    """open_tickets, oldest_open_ticket_days and urgent_open_tickets (high or urgent priority)."""
    if not len(tickets):
        out["open_tickets"] = 0.0
        out["oldest_open_ticket_days"] = np.nan
        out["urgent_open_tickets"] = 0.0
        return
    out["open_tickets"] = np.nan_to_num(by.count(1), nan=0.0)
    out["oldest_open_ticket_days"] = by.largest(1, tickets["age"].to_numpy(dtype=float, na_value=np.nan))
    urgent = tickets["priority"].isin(["high", "urgent"]).to_numpy(dtype=bool)
    out["urgent_open_tickets"] = np.nan_to_num(by.count(1, urgent), nan=0.0)


def _last_answers(feedback: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The latest answer per customer to survey ``kind`` (score, ts), indexed by text customer id."""
    f = feedback[feedback["survey_type"] == kind] if len(feedback) else feedback
    if not len(f):
        return pd.DataFrame({"score": [], "ts": pd.to_datetime([])}, index=pd.Index([], dtype=str))
    f = f.assign(customer_id=f["customer_id"].astype(str), ts=pd.to_datetime(f["ts"])).sort_values("ts")
    ids = f["customer_id"]
    # a group's last row in time order, as groupby("customer_id").tail(1) keeps it (without sorting the ids)
    return f[ids.notna().to_numpy() & ~ids.duplicated(keep="last").to_numpy()].set_index("customer_id")


def _survey_signals(
    out: pd.DataFrame, nps: pd.DataFrame, csat: pd.DataFrame, ref: pd.Timestamp, by: _ByCustomer
) -> None:
    """last_nps, days_since_nps and last_csat: the latest answer of each survey before as_of."""
    out["last_nps"] = by.value(2, nps["score"]) if len(nps) else np.nan
    out["days_since_nps"] = (
        by.value(2, (ref - nps["ts"]).dt.total_seconds() / 86400.0) if len(nps) else np.nan
    )
    out["last_csat"] = by.value(3, csat["score"]) if len(csat) else np.nan


def build_signals(
    customers: pd.DataFrame,
    usage: pd.DataFrame,
    open_tickets: pd.DataFrame,
    feedback: pd.DataFrame,
    as_of: datetime,
) -> pd.DataFrame:
    """Signals per customer (indexed by customer_id).

    Args:
        customers: customer_id, signup_date, and optionally plan and monthly_revenue (see :func:`renews`).
        usage: customer_id, usage_14d, usage_prev_14d.
        open_tickets: customer_id, opened_at, priority (tickets open at as_of).
        feedback: customer_id, survey_type, ts, score (answers before as_of).
        as_of: The decision time.

    Returns:
        One row per customer with the columns listed in the module docstring, in that order.
    """
    ref = pd.Timestamp(as_of)
    idx = pd.Index(customers["customer_id"].astype(str), name="customer_id")
    out = pd.DataFrame(index=idx)
    signup = pd.to_datetime(customers["signup_date"], errors="coerce").to_numpy()
    out["tenure_days"] = (ref.normalize() - pd.DatetimeIndex(signup)).days.astype(float)
    to_renewal = days_to_anniversary(customers["signup_date"].set_axis(idx), ref.date()).to_numpy()
    out["days_to_renewal"] = np.where(renews(customers), to_renewal, np.nan)
    tickets = _ticket_rows(open_tickets, ref) if len(open_tickets) else open_tickets.assign(customer_id=[])
    nps, csat = _last_answers(feedback, "NPS"), _last_answers(feedback, "CSAT")
    usage_ids = usage["customer_id"] if len(usage) else pd.Series([], dtype=str)
    by = _ByCustomer(idx, usage_ids, tickets["customer_id"], nps.index, csat.index)
    _usage_signals(out, usage, by)
    _ticket_signals(out, tickets, by)
    _survey_signals(out, nps, csat, ref, by)
    return out
