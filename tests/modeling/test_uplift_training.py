"""Uplift targeting from the warehouse: randomized decisions -> point-in-time features -> uplift per customer."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from proactive_ml.modeling.uplift_training import score_uplift, train_uplift, uplift_training_set
from proactive_ml.sim.small_company import START, load_raw_tables, make_raw_tables


def test_train_and_score_uplift_from_decisions(duck):
    tables = make_raw_tables(n_customers=400, n_days=200, seed=11)
    load_raw_tables(duck, tables)
    decided = START + timedelta(days=100)
    active = tables["customers"]
    cancelled = pd.to_datetime(active["cancelled_at"])
    ids = active.loc[cancelled.isna() | (cancelled >= pd.Timestamp(decided)), "customer_id"].tolist()
    rng = np.random.default_rng(0)
    dec = pd.DataFrame(
        {
            "send_key": [f"sk_{i:032x}" for i in range(len(ids))],
            "as_of": decided,
            "customer_id": ids,
            "playbook": "renewal",
            "arm": np.where(rng.random(len(ids)) < 0.5, "holdout", "treatment"),
        }
    )
    duck.insert_frame("decisions", dec.assign(action="email", decided_at=pd.Timestamp(decided)))
    X, out = uplift_training_set(duck, date(2026, 7, 1), horizon_days=60)
    assert len(X) == len(out) > 100
    assert X.index.equals(out.index)
    assert set(out["treatment"]) == {0, 1}
    model, metrics = train_uplift(duck, date(2026, 7, 1), horizon_days=60)
    assert metrics["status"] == "trained"
    assert "qini_auc" in metrics
    u = score_uplift(duck, model, date(2026, 7, 1))
    assert u.name == "uplift"
    assert len(u) > 0
    assert u.between(-1, 1).all()
    # too early: no finished windows, no model
    none, m2 = train_uplift(duck, decided + timedelta(days=10), horizon_days=60)
    assert none is None
    assert m2["status"].startswith("not enough")
