"""The loop on the simulated world: measured impact covers the true effect; uplift targeting beats risk.

A randomized 50/50 email experiment on the world's active customers (features as of the send day, outcomes 30
days later), measured with the product's impact code, then the product's uplift model (T-learner, trained only
on that randomized data) ranks the next day's customers; the world's hidden truth scores the rankings.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from proactive_ml.contract import DATASETS
from proactive_ml.features.point_in_time import build_features
from proactive_ml.measurement.impact import measure_impact
from proactive_ml.modeling.uplift import _preprocessor, targeting_value
from proactive_ml.modeling.uplift_training import score_uplift, train_uplift, uplift_training_set
from proactive_ml.sim.world import World, WorldConfig

UPSERT_KEYS = {"customers": "customer_id", "tickets": "ticket_id"}


def _load(wh, batch) -> None:
    for name, df in batch.items():
        if df.empty:
            continue
        if name in UPSERT_KEYS:
            k = UPSERT_KEYS[name]
            with wh.staged(df[[k]], "_keys") as t:
                wh.execute(f"DELETE FROM {name} WHERE {k} IN (SELECT {k} FROM {t})")
        wh.insert_frame(name, df, DATASETS[name].column_names)


@pytest.mark.slow  # ~15 s of CPU (75 simulated days of 20k customers); run by `make test-slow`
def test_measured_impact_covers_truth_and_uplift_beats_risk_on_the_world(duck, settings):
    world = World(WorldConfig(n_customers=20_000, seed=7))
    for _ in range(45):
        _load(duck, world.step())
    d0 = world.today + timedelta(days=1)
    ids = build_features(duck, d0).index.to_numpy()
    treat = np.random.default_rng(1).random(len(ids)) < 0.5
    tids = ids[treat]
    true_effect = world.true_effect(tids, 30) / len(tids)  # expected retention gained per treated customer
    emails = duck.query("SELECT customer_id, email FROM customers").set_index("customer_id")["email"]
    sent = pd.DataFrame(
        {
            "customer_id": tids,
            "email": emails.reindex(tids).to_numpy(),
            "send_key": [f"sk_{i:032x}" for i in range(len(tids))],
            "message_id": [f"M{i // 1000}" for i in range(len(tids))],
            "playbook": "at_risk",
            "sent_at": pd.Timestamp(d0) + pd.Timedelta(hours=9),
        }
    )
    world.receive_emails(sent)
    duck.insert_frame(
        "decisions",
        pd.DataFrame(
            {
                "send_key": [f"sk_d{i:031x}" for i in range(len(ids))],
                "as_of": d0,
                "customer_id": ids,
                "playbook": "at_risk",
                "action": "email",
                "arm": np.where(treat, "treatment", "holdout"),
                "decided_at": pd.Timestamp(d0),
            }
        ),
    )
    for _ in range(30):
        _load(duck, world.step())
    d1 = world.today + timedelta(days=1)

    impact = measure_impact(duck, d1, settings, log_to_mlflow=False)
    row = impact[(impact["playbook"] == "ALL") & (impact["outcome"] == "retained_30d")].iloc[0]
    assert row["ci_low"] <= true_effect <= row["ci_high"], (row.to_dict(), true_effect)

    with threadpool_limits(limits=1):
        model, metrics = train_uplift(duck, d1, horizon_days=30)
        X0, out = uplift_training_set(duck, d1, horizon_days=30)
        hold = out["treatment"].to_numpy() == 0
        risk_model = Pipeline([("prep", _preprocessor(X0)), ("clf", LogisticRegression(max_iter=2000))])
        risk_model.fit(X0[hold], 1 - out.loc[hold, "retained"].to_numpy())  # churn risk, on the holdout only
    assert model is not None
    assert metrics["status"] == "trained"
    uplift = score_uplift(duck, model, d1)
    X1 = build_features(duck, d1)
    risk = pd.Series(risk_model.predict_proba(X1)[:, 1], index=X1.index)
    truth = world.truth(30).set_index("customer_id")["uplift"]
    for share in (0.1, 0.2, 0.3):
        budget = int(share * len(X1))
        kept_uplift = targeting_value(truth, uplift, budget)
        kept_risk = targeting_value(truth, risk, budget)
        assert kept_uplift > kept_risk, (share, kept_uplift, kept_risk)
