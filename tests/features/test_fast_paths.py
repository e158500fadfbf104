"""The two-mask usage query counts exactly what the former three-mask query counted."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from proactive_ml.contract import DATASETS, FEATURES
from proactive_ml.features.point_in_time import build_features, run_query, window_params
from proactive_ml.sim.small_company import at, load_raw_tables, make_raw_tables

CUTOFF = date(2026, 4, 20)

# The usage masks as they were computed before days_hi also carried the feature bits (three masks, a CASE per
# feature name): the reference the two-mask query is pinned against.
_OLD_FEATURE_BIT = (
    "CASE feature " + " ".join(f"WHEN '{f}' THEN {i}" for i, f in enumerate(FEATURES)) + " ELSE 62 END"
)
OLD_USAGE_MASKS_SQL = f"""
SELECT customer_id,
  BIT_OR(CASE WHEN k <= 62 THEN CAST(1 AS BIGINT) << (k - 1) ELSE CAST(0 AS BIGINT) END) AS days_lo,
  BIT_OR(CASE WHEN k > 62 AND k <= 90 THEN CAST(1 AS BIGINT) << (k - 63) ELSE CAST(0 AS BIGINT) END) AS days_hi,
  BIT_OR(CASE WHEN ts >= :c30 THEN CAST(1 AS BIGINT) << ({_OLD_FEATURE_BIT}) ELSE CAST(0 AS BIGINT) END)
    AS features_30d
FROM (
  SELECT customer_id, ts, feature, CAST(:cutoff_date AS DATE) - CAST(ts AS DATE) AS k
  FROM usage_events
  WHERE ts < :cutoff_ts
) u
GROUP BY customer_id
"""


def _bits(values: pd.Series, keep: int) -> np.ndarray:
    m = values.fillna(0).astype("int64").to_numpy() & np.int64((1 << keep) - 1)
    return np.bitwise_count(m).astype("float64")


def _world(wh) -> None:
    """A small company, plus usage the simulation never writes: unknown feature names, events older than 90 days,
    a customer without a plan."""
    tables = make_raw_tables(80, 160, seed=11)
    tables["customers"].loc[tables["customers"].index[0], "plan"] = None
    load_raw_tables(wh, tables)
    ids = tables["customers"]["customer_id"].tolist()
    c = at(CUTOFF)
    odd = pd.DataFrame(
        [
            (ids[1], c - timedelta(days=3), "legacy_widget", 2),
            (ids[1], c - timedelta(days=5), "another_unknown", 1),
            (ids[2], c - timedelta(days=29, hours=23), "legacy_widget", 1),
            (ids[2], c - timedelta(days=95), "login", 4),
            (ids[3], c - timedelta(days=89, hours=1), "search", 1),
        ],
        columns=["customer_id", "ts", "feature", "quantity"],
    )
    wh.insert_frame("usage_events", odd, [c for c in DATASETS["usage_events"].column_names if c in odd])


def test_two_usage_masks_count_what_the_three_masks_counted(wh) -> None:
    _world(wh)
    X = build_features(wh, CUTOFF)
    old = run_query(wh, OLD_USAGE_MASKS_SQL, window_params(CUTOFF)).set_index("customer_id")
    old.index = old.index.astype(object)
    old = old.reindex(X.index)
    assert (X["breadth_30d"] > 0).sum() > 20  # the test has power
    assert X["active_days_90d"].max() > 30
    np.testing.assert_array_equal(X["active_days_7d"].to_numpy(), _bits(old["days_lo"], 7))
    np.testing.assert_array_equal(X["active_days_30d"].to_numpy(), _bits(old["days_lo"], 30))
    np.testing.assert_array_equal(
        X["active_days_90d"].to_numpy(), _bits(old["days_lo"], 62) + _bits(old["days_hi"], 28)
    )
    np.testing.assert_array_equal(X["breadth_30d"].to_numpy(), _bits(old["features_30d"], 63))
