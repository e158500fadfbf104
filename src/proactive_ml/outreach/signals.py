"""Simple per-customer signals for playbook rules (pure: aggregated frames in, one frame out).

Everything is computed strictly before ``as_of`` (the warehouse reader filters by time; these functions only
combine). Columns: tenure_days, days_to_renewal, usage_14d, usage_prev_14d, usage_trend, open_tickets,
oldest_open_ticket_days, urgent_open_tickets, last_nps, days_since_nps, last_csat.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd


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


def _usage_signals(out: pd.DataFrame, usage: pd.DataFrame) -> None:
    """usage_14d, usage_prev_14d (0 when missing) and usage_trend (their ratio; 1 without earlier usage)."""
    idx = out.index
    u = (
        usage.set_index("customer_id")
        if len(usage)
        else pd.DataFrame(columns=["usage_14d", "usage_prev_14d"])
    )
    out["usage_14d"] = pd.to_numeric(u["usage_14d"], errors="coerce").reindex(idx).fillna(0.0).astype(float)
    out["usage_prev_14d"] = (
        pd.to_numeric(u["usage_prev_14d"], errors="coerce").reindex(idx).fillna(0.0).astype(float)
    )
    prev = out["usage_prev_14d"]
    out["usage_trend"] = np.where(prev > 0, out["usage_14d"] / prev.where(prev > 0, 1.0), 1.0)


def _ticket_signals(out: pd.DataFrame, open_tickets: pd.DataFrame, ref: pd.Timestamp) -> None:
    """open_tickets, oldest_open_ticket_days and urgent_open_tickets (high or urgent priority)."""
    idx = out.index
    if not len(open_tickets):
        out["open_tickets"] = 0.0
        out["oldest_open_ticket_days"] = np.nan
        out["urgent_open_tickets"] = 0.0
        return
    t = open_tickets.copy()
    t["customer_id"] = t["customer_id"].astype(str)
    t["age"] = (ref - pd.to_datetime(t["opened_at"])).dt.total_seconds() / 86400.0
    g = t.groupby("customer_id")
    out["open_tickets"] = g.size().reindex(idx).fillna(0).astype(float)
    out["oldest_open_ticket_days"] = g["age"].max().reindex(idx)
    urgent = t[t["priority"].isin(["high", "urgent"])].groupby("customer_id").size()
    out["urgent_open_tickets"] = urgent.reindex(idx).fillna(0).astype(float)


def _survey_signals(out: pd.DataFrame, feedback: pd.DataFrame, ref: pd.Timestamp) -> None:
    """last_nps, days_since_nps and last_csat: the latest answer of each survey before as_of."""
    idx = out.index
    for kind, col in (("NPS", "last_nps"), ("CSAT", "last_csat")):
        f = feedback[feedback["survey_type"] == kind] if len(feedback) else feedback
        if len(f):
            f = f.assign(customer_id=f["customer_id"].astype(str), ts=pd.to_datetime(f["ts"]))
            last = f.sort_values("ts").groupby("customer_id").tail(1).set_index("customer_id")
            out[col] = pd.to_numeric(last["score"]).reindex(idx).astype(float)
            if kind == "NPS":
                out["days_since_nps"] = ((ref - last["ts"]).dt.total_seconds() / 86400.0).reindex(idx)
        else:
            out[col] = np.nan
            if kind == "NPS":
                out["days_since_nps"] = np.nan


def build_signals(
    customers: pd.DataFrame,
    usage: pd.DataFrame,
    open_tickets: pd.DataFrame,
    feedback: pd.DataFrame,
    as_of: datetime,
) -> pd.DataFrame:
    """Signals per customer (indexed by customer_id).

    Args:
        customers: customer_id, signup_date.
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
    out["days_to_renewal"] = days_to_anniversary(
        customers["signup_date"].set_axis(idx), ref.date()
    ).to_numpy()
    _usage_signals(out, usage)
    _ticket_signals(out, open_tickets, ref)
    _survey_signals(out, feedback, ref)
    return out
