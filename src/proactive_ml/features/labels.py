"""Labels from later data only: what happened to each customer active at a cutoff in ``[cutoff, cutoff + h)``.

- ``churn``: the account was cancelled in the window (``cancelled_at`` in ``[cutoff, cutoff + h)``).
- ``need``: the customer needed help in the window: a support ticket was opened, or a detractor survey arrived
  (NPS <= 6 or CSAT <= 2).
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

from proactive_ml.features.point_in_time import ACTIVE_SQL, as_timestamp, run_query

TARGETS = ("churn", "need")
DEFAULT_HORIZON_DAYS = 30

LABELS_SQL = """
WITH active AS ({active}),
cx AS (
  SELECT customer_id FROM customers WHERE cancelled_at >= :cutoff_ts AND cancelled_at < :end_ts
),
tk AS (
  SELECT DISTINCT customer_id FROM tickets WHERE opened_at >= :cutoff_ts AND opened_at < :end_ts
),
fb AS (
  SELECT DISTINCT customer_id FROM feedback
  WHERE ts >= :cutoff_ts AND ts < :end_ts
    AND ((survey_type = 'NPS' AND score <= 6) OR (survey_type = 'CSAT' AND score <= 2))
)
SELECT a.customer_id,
  CASE WHEN cx.customer_id IS NULL THEN 0 ELSE 1 END AS churn,
  CASE WHEN tk.customer_id IS NULL AND fb.customer_id IS NULL THEN 0 ELSE 1 END AS need
FROM active a
LEFT JOIN cx ON cx.customer_id = a.customer_id
LEFT JOIN tk ON tk.customer_id = a.customer_id
LEFT JOIN fb ON fb.customer_id = a.customer_id
ORDER BY a.customer_id
"""

TREATED_SQL = """
SELECT DISTINCT customer_id FROM decisions
WHERE arm = 'treatment' AND as_of >= :start_date AND as_of < :end_date
"""


def build_labels(wh: Any, cutoff: date | datetime, horizon_days: int = DEFAULT_HORIZON_DAYS) -> pd.DataFrame:
    """Churn and need labels (0/1) of every customer active at ``cutoff``, indexed by customer_id.

    The caller must only use cutoffs whose window ``[cutoff, cutoff + horizon_days)`` lies before the data's end
    (see :func:`proactive_ml.modeling.datasets.training_cutoffs`).
    """
    c = as_timestamp(cutoff)
    params = {"cutoff_ts": c, "cutoff_date": c.date(), "end_ts": c + timedelta(days=horizon_days)}
    df = run_query(wh, LABELS_SQL.format(active=ACTIVE_SQL), params).set_index("customer_id")
    df.index = df.index.astype(object)
    return df.astype({"churn": "int64", "need": "int64"})


def treated_customers(wh: Any, cutoff: date | datetime, horizon_days: int = DEFAULT_HORIZON_DAYS) -> set[str]:
    """Customers contacted (decisions arm='treatment') in ``[cutoff - h, cutoff + h)``: their label is not natural.

    Empty when the ``decisions`` table does not exist yet.
    """
    if not wh.table_exists("decisions"):
        return set()
    c = as_timestamp(cutoff).date()
    params = {"start_date": c - timedelta(days=horizon_days), "end_date": c + timedelta(days=horizon_days)}
    return set(wh.query(TREATED_SQL, params)["customer_id"].astype(str))


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
SELECT customer_id, MAX(gap) AS max_gap FROM (
  SELECT customer_id,
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


def max_gaps(wh: Any, before: date | datetime, qualifying: tuple[str, ...] = ()) -> np.ndarray:
    """Each customer's longest gap in days between consecutive qualifying events before ``before`` (0: one event)."""
    sql = MAX_GAP_SQL.format(qualifying=qualifying_clause(qualifying))
    df = wh.query(sql, {"end_ts": as_timestamp(before)})
    return pd.to_numeric(df["max_gap"], errors="coerce").fillna(0).to_numpy(dtype=float)


def return_curve(gaps: np.ndarray, max_days: int = 365) -> pd.Series:
    """Share of customers who ever came back after a silence longer than ``n`` days, for n = 1..max_days."""
    days = np.arange(1, max_days + 1)
    if len(gaps) == 0:
        return pd.Series(np.zeros(len(days)), index=pd.Index(days, name="days"), name="return_share")
    g = np.sort(np.asarray(gaps, dtype=float))
    share = (len(g) - np.searchsorted(g, days, side="right")) / len(g)
    return pd.Series(share, index=pd.Index(days, name="days"), name="return_share")


def choose_inactivity_window(
    gaps: np.ndarray, threshold: float = 0.05, max_days: int = 365
) -> tuple[int, pd.Series]:
    """(n, curve): the smallest window after which fewer than ``threshold`` of customers ever come back.

    ``max_days`` when no window up to it qualifies.
    """
    curve = return_curve(gaps, max_days)
    below = curve[curve < threshold]
    return (int(below.index[0]) if len(below) else max_days), curve
