"""Labels from later data only: what happened to each customer active at a cutoff in ``[cutoff, cutoff + h)``.

- ``churn``: the account was cancelled in the window (``cancelled_at`` in ``[cutoff, cutoff + h)``).
- ``need``: the customer needed help in the window: a support ticket was opened, or a detractor survey arrived
  (NPS <= 6 or CSAT <= 2); defined once in :mod:`proactive_ml.features.outcomes`.

Labels read nothing before the cutoff except the active-customer definition (the same as the features'), so a
feature row and its label never share information.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from proactive_ml.features.outcomes import NEED_IN_WINDOW_SQL, TREATED_IN_WINDOW_SQL
from proactive_ml.features.point_in_time import ACTIVE_SQL, as_timestamp, run_query

TARGETS = ("churn", "need")
DEFAULT_HORIZON_DAYS = 30

LABELS_SQL = f"""
WITH active AS ({{active}}),
cx AS (
  SELECT customer_id FROM customers WHERE cancelled_at >= :cutoff_ts AND cancelled_at < :end_ts
),
nd AS ({NEED_IN_WINDOW_SQL})
SELECT a.customer_id,
  CASE WHEN cx.customer_id IS NULL THEN 0 ELSE 1 END AS churn,
  CASE WHEN nd.customer_id IS NULL THEN 0 ELSE 1 END AS need
FROM active a
LEFT JOIN cx ON cx.customer_id = a.customer_id
LEFT JOIN nd ON nd.customer_id = a.customer_id
ORDER BY a.customer_id
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
    """Customers contacted (decisions arm='treatment') in ``[cutoff - h, cutoff + h)``: their label is not natural."""
    c = as_timestamp(cutoff).date()
    params = {"start_date": c - timedelta(days=horizon_days), "end_date": c + timedelta(days=horizon_days)}
    return set(wh.query(TREATED_IN_WINDOW_SQL, params)["customer_id"].astype(str))
