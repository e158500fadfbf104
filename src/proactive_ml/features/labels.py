"""Labels from later data only: what happened to each customer active at a cutoff in ``[cutoff, cutoff + h)``.

- ``churn``: the account was cancelled in the window (``cancelled_at`` in ``[cutoff, cutoff + h)``).
- ``need``: the customer needed help in the window: a support ticket was opened, or a detractor survey arrived
  (NPS <= 6 or CSAT <= 2); defined once in :mod:`proactive_ml.features.outcomes`.
- inactivity churn (:func:`inactivity_labels`): no qualifying usage event in ``[cutoff, cutoff + n)``, for customers
  active at the cutoff (an event in the window before it); lapsed customers are counted, never labelled.
  :func:`choose_inactivity_window` picks ``n`` from the gaps between consecutive events (the return curve).

Labels read nothing before the cutoff except the active-customer definition (the same as the features'), so a
feature row and its label never share information.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from proactive_ml.features.outcomes import HOUSE_NEED, TREATED_IN_WINDOW_SQL, NeedEvents
from proactive_ml.features.point_in_time import ACTIVE_SQL, as_timestamp, run_query

TARGETS = ("churn", "need")
DEFAULT_HORIZON_DAYS = 30

LABELS_SQL = """
WITH active AS ({active}),
cx AS (
  SELECT customer_id FROM customers WHERE cancelled_at >= :cutoff_ts AND cancelled_at < :end_ts
),
nd AS ({need})
SELECT a.customer_id,
  CASE WHEN cx.customer_id IS NULL THEN 0 ELSE 1 END AS churn,
  CASE WHEN nd.customer_id IS NULL THEN 0 ELSE 1 END AS need
FROM active a
LEFT JOIN cx ON cx.customer_id = a.customer_id
LEFT JOIN nd ON nd.customer_id = a.customer_id
ORDER BY a.customer_id
"""


def build_labels(
    wh: Any,
    cutoff: date | datetime,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    need: NeedEvents = HOUSE_NEED,
) -> pd.DataFrame:
    """Churn and need labels (0/1) of every customer active at ``cutoff``, indexed by customer_id.

    ``need`` says which events show a need (default: the house's tickets and detractor answers). The caller must
    only use cutoffs whose window ``[cutoff, cutoff + horizon_days)`` lies before the data's end (see
    :func:`proactive_ml.modeling.datasets.training_cutoffs`).
    """
    c = as_timestamp(cutoff)
    params = {"cutoff_ts": c, "cutoff_date": c.date(), "end_ts": c + timedelta(days=horizon_days)}
    sql = LABELS_SQL.format(active=ACTIVE_SQL, need=need.in_window_sql())
    df = run_query(wh, sql, params).set_index("customer_id")
    df.index = df.index.astype(object)
    return df.astype({"churn": "int64", "need": "int64"})


def treated_customers(wh: Any, cutoff: date | datetime, horizon_days: int = DEFAULT_HORIZON_DAYS) -> set[str]:
    """Customers contacted (decisions arm='treatment') in ``[cutoff - h, cutoff + h)``: their label is not natural."""
    c = as_timestamp(cutoff).date()
    params = {"start_date": c - timedelta(days=horizon_days), "end_date": c + timedelta(days=horizon_days)}
    return set(wh.query(TREATED_IN_WINDOW_SQL, params)["customer_id"].astype(str))


INACTIVITY_SQL = """
WITH active AS ({active}),
before AS (
  SELECT DISTINCT customer_id FROM usage_events WHERE ts >= :window_ts AND ts < :cutoff_ts {qualifying}
),
after AS (
  SELECT DISTINCT customer_id FROM usage_events WHERE ts >= :cutoff_ts AND ts < :end_ts {qualifying}
),
later AS (
  SELECT DISTINCT customer_id FROM usage_events WHERE ts >= :end_ts AND ts < :data_end_ts {qualifying}
)
SELECT a.customer_id,
  CASE WHEN b.customer_id IS NULL THEN 0 ELSE 1 END AS active_at_cutoff,
  CASE WHEN af.customer_id IS NULL THEN 1 ELSE 0 END AS churn,
  CASE WHEN l.customer_id IS NULL THEN 0 ELSE 1 END AS came_back
FROM active a
LEFT JOIN before b ON b.customer_id = a.customer_id
LEFT JOIN after af ON af.customer_id = a.customer_id
LEFT JOIN later l ON l.customer_id = a.customer_id
ORDER BY a.customer_id
"""

MAX_GAP_SQL = """
SELECT customer_id, MAX(gap) AS max_gap, CAST(:end_date AS DATE) - CAST(MAX(ts) AS DATE) AS trailing FROM (
  SELECT customer_id, ts,
    CAST(ts AS DATE) - CAST(LAG(ts) OVER (PARTITION BY customer_id ORDER BY ts) AS DATE) AS gap
  FROM usage_events WHERE ts < :end_ts {qualifying}
) g
GROUP BY customer_id
"""


def qualifying_clause(features: tuple[str, ...] | list[str]) -> str:
    """``AND feature IN (...)`` for the declared qualifying usage features (empty: every event counts)."""
    if not features:
        return ""
    quoted = ", ".join("'" + str(f).replace("'", "''") + "'" for f in features)
    return f"AND feature IN ({quoted})"


def inactivity_labels(
    wh: Any,
    cutoff: date | datetime,
    horizon_days: int,
    active_window_days: int = 90,
    qualifying: tuple[str, ...] = (),
    data_end: date | datetime | None = None,
) -> pd.DataFrame:
    """Inactivity churn (0/1) of every customer active at ``cutoff``, indexed by customer_id.

    ``churn`` = 1 when no qualifying event happens in ``[cutoff, cutoff + horizon_days)``; ``came_back`` = 1 when
    an event happens after that window and before ``data_end`` (a false churn). Customers with no event in the
    ``active_window_days`` before the cutoff are lapsed: left out, counted in ``attrs['n_lapsed']``.
    """
    c = as_timestamp(cutoff)
    end = c + timedelta(days=horizon_days)
    params = {
        "cutoff_ts": c,
        "cutoff_date": c.date(),
        "window_ts": c - timedelta(days=active_window_days),
        "end_ts": end,
        "data_end_ts": as_timestamp(data_end) if data_end is not None else end,
    }
    sql = INACTIVITY_SQL.format(active=ACTIVE_SQL, qualifying=qualifying_clause(qualifying))
    df = run_query(wh, sql, params).set_index("customer_id")
    df.index = df.index.astype(object)
    df = df.astype({"active_at_cutoff": "int64", "churn": "int64", "came_back": "int64"})
    active = df[df["active_at_cutoff"] == 1].drop(columns="active_at_cutoff")
    active.attrs["n_lapsed"] = int(len(df) - len(active))
    return active


def max_gaps(
    wh: Any, before: date | datetime, qualifying: tuple[str, ...] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """(longest gap, trailing silence) in days per customer, from qualifying events before ``before``.

    The longest gap between consecutive events is 0 for a one-event customer; the trailing silence is the days from
    the last event to ``before`` (a silence that has not ended, yet).
    """
    sql = MAX_GAP_SQL.format(qualifying=qualifying_clause(qualifying))
    end = as_timestamp(before)
    df = wh.query(sql, {"end_ts": end, "end_date": end.date()})
    gaps = pd.to_numeric(df["max_gap"], errors="coerce").fillna(0).to_numpy(dtype=float)
    return gaps, pd.to_numeric(df["trailing"], errors="coerce").fillna(0).to_numpy(dtype=float)


def return_curve(gaps: np.ndarray, trailing: np.ndarray | None = None, max_days: int = 365) -> pd.Series:
    """For n = 1..max_days: the share of customers silent for more than n days who came back afterwards.

    A customer came back after n days when a gap between two of their events exceeds n. With ``trailing`` (the
    silence since each customer's last event) the share is among the customers whose silence reached n: those who
    came back plus those still silent after n days; without it, among all customers.
    """
    days = np.arange(1, max_days + 1)
    g = np.sort(np.asarray(gaps, dtype=float))
    back = len(g) - np.searchsorted(g, days, side="right")
    if trailing is None:
        reached = np.full(len(days), len(g))
    else:
        longest = np.sort(np.maximum(np.asarray(gaps, dtype=float), np.asarray(trailing, dtype=float)))
        reached = len(longest) - np.searchsorted(longest, days, side="right")
    share = np.divide(back, reached, out=np.zeros(len(days)), where=reached > 0)
    return pd.Series(share, index=pd.Index(days, name="days"), name="return_share")


def choose_inactivity_window(
    gaps: np.ndarray, threshold: float = 0.05, max_days: int = 365, trailing: np.ndarray | None = None
) -> tuple[int, pd.Series]:
    """(n, curve): the smallest window after which fewer than ``threshold`` of customers ever come back.

    ``max_days`` when no window up to it qualifies. See :func:`return_curve` for ``trailing``.
    """
    curve = return_curve(gaps, trailing, max_days)
    below = curve[curve < threshold]
    return (int(below.index[0]) if len(below) else max_days), curve
