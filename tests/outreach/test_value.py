"""Customer value from the data: monthly revenue, else trailing spend from usage values, else a declared constant."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from proactive_ml.outreach.inputs import VALUE_WINDOW_DAYS, load_candidates
from proactive_ml.outreach.playbooks import load_playbooks
from proactive_ml.outreach.selection import customer_value, expected_value
from proactive_ml.sim.outreach_samples import make_customers, seed_warehouse
from proactive_ml.warehouse import Warehouse

CONFIG = load_playbooks()
AS_OF = datetime(2026, 11, 24, 14)


def test_value_chain_revenue_then_spend_then_default() -> None:
    f = pd.DataFrame(
        {
            "monthly_revenue": [120.0, np.nan, np.nan, -5.0],
            "monthly_spend": [999.0, 40.0, np.nan, np.nan],
        }
    )
    assert customer_value(f, 50.0).tolist() == [120.0, 40.0, 50.0, 0.0]
    assert customer_value(f.drop(columns="monthly_spend"), 7.0).tolist() == [120.0, 7.0, 7.0, 0.0]
    assert customer_value(pd.DataFrame(index=range(2)), 3.0).tolist() == [3.0, 3.0]  # no value column at all


def test_declared_default_value_is_used_and_never_all_zero_on_a_purchase_log() -> None:
    assert CONFIG.selection.default_customer_value > 0
    purchase_log = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "score": [0.5, 0.2],
            "action": "email",
            "monthly_revenue": [None, None],  # no revenue column mapped
            "monthly_spend": [np.nan, np.nan],  # and no values on the events
        }
    )
    out = expected_value(purchase_log, CONFIG)
    h, cost, v = CONFIG.selection.value_horizon_months, CONFIG.selection.contact_cost, CONFIG.selection
    assert out["customer_value"].tolist() == [v.default_customer_value] * 2
    assert out["expected_value"].tolist() == [
        0.5 * v.default_customer_value * h - cost,
        0.2 * v.default_customer_value * h - cost,
    ]
    assert (out["expected_value"] > 0).any()


def test_trailing_spend_comes_from_usage_values(wh: Warehouse) -> None:
    c = make_customers(4, seed=1)
    c["monthly_revenue"] = [100.0, None, None, None]
    seed_warehouse(wh, c, date(2026, 11, 23))
    ids = c["customer_id"].tolist()
    wh.insert_frame(
        "usage_events",
        pd.DataFrame(
            {
                "customer_id": [ids[0], ids[1], ids[1], ids[2], ids[1]],
                "ts": [
                    AS_OF - timedelta(days=3),
                    AS_OF - timedelta(days=10),
                    AS_OF - timedelta(days=40),
                    AS_OF - timedelta(days=5),
                    AS_OF - timedelta(days=VALUE_WINDOW_DAYS + 5),  # too old: not trailing spend
                ],
                "feature": ["buy", "buy", "buy2", "browse", "buy"],
                "quantity": 1,
                "value": [10.0, 60.0, 30.0, None, 1000.0],
            }
        ),
    )
    frame = load_candidates(wh, AS_OF).set_index("customer_id")
    spend = frame["monthly_spend"]
    assert spend[ids[1]] == (60.0 + 30.0) * 30 / VALUE_WINDOW_DAYS
    assert np.isnan(spend[ids[2]])  # events without values: no spend known
    value = customer_value(frame, CONFIG.selection.default_customer_value)
    assert value[ids[0]] == 100.0  # revenue wins
    assert value[ids[1]] == spend[ids[1]]
    assert value[ids[2]] == value[ids[3]] == CONFIG.selection.default_customer_value
