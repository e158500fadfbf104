"""Uplift from the warehouse: randomized decisions -> point-in-time features -> a logged, registered model that
outreach loads by alias -> uplift per customer."""

from __future__ import annotations

import re
from datetime import date, timedelta

import mlflow
import numpy as np
import pandas as pd
import pytest

from proactive_ml.modeling import registry
from proactive_ml.modeling.config import UpliftConfig
from proactive_ml.modeling.uplift_training import (
    load_uplift_champion,
    score_uplift,
    train_and_register_uplift,
    train_uplift,
    uplift_training_set,
)
from proactive_ml.settings import Settings
from proactive_ml.sim.small_company import START, load_raw_tables, make_raw_tables
from proactive_ml.warehouse import Warehouse

AS_OF = date(2026, 7, 1)
DECIDED = START + timedelta(days=100)


def _randomized_company(wh: Warehouse) -> None:
    """The small company, with every customer active 100 days in randomized 50/50 into treatment and holdout."""
    tables = make_raw_tables(n_customers=400, n_days=200, seed=11)
    load_raw_tables(wh, tables)
    active = tables["customers"]
    cancelled = pd.to_datetime(active["cancelled_at"])
    ids = active.loc[cancelled.isna() | (cancelled >= pd.Timestamp(DECIDED)), "customer_id"].tolist()
    rng = np.random.default_rng(0)
    dec = pd.DataFrame(
        {
            "send_key": [f"sk_{i:032x}" for i in range(len(ids))],
            "as_of": DECIDED,
            "customer_id": ids,
            "playbook": "renewal",
            "arm": np.where(rng.random(len(ids)) < 0.5, "holdout", "treatment"),
        }
    )
    wh.insert_frame("decisions", dec.assign(action="email", decided_at=pd.Timestamp(DECIDED)))


def test_train_and_score_uplift_from_decisions(duck):
    _randomized_company(duck)
    X, out = uplift_training_set(duck, AS_OF, horizon_days=60)
    assert len(X) == len(out) > 100
    assert X.index.equals(out.index)
    assert set(out["treatment"]) == {0, 1}
    model, metrics = train_uplift(duck, AS_OF, horizon_days=60)
    assert metrics["status"] == "trained"
    assert "qini_auc" in metrics
    u = score_uplift(duck, model, AS_OF)
    assert u.name == "uplift"
    assert len(u) > 0
    assert u.between(-1, 1).all()
    # too early: no finished windows, no model
    none, m2 = train_uplift(duck, DECIDED + timedelta(days=10), horizon_days=60)
    assert none is None
    assert m2["status"].startswith("not enough")


@pytest.fixture
def registered(duck: Warehouse, settings: Settings) -> dict:
    _randomized_company(duck)
    early = train_and_register_uplift(duck, settings, DECIDED + timedelta(days=10))
    # The small company does not answer emails (no true effect): a floor below any Qini lets the model through.
    first = train_and_register_uplift(duck, settings, AS_OF, UpliftConfig(floors={"qini_auc": -1.0}))
    return {"early": early, "first": first}


def test_too_few_outcomes_records_why_and_registers_nothing(registered: dict, settings: Settings) -> None:
    early = registered["early"]
    assert early["trained"] is False
    assert "0 treated and 0 held-out decisions with a matured 60-day outcome" in early["reason"]
    assert early["champion_version"] is None


def test_uplift_is_logged_registered_with_aliases_and_loaded_by_outreach(
    registered: dict, duck: Warehouse, settings: Settings
) -> None:
    first = registered["first"]
    assert first["trained"]
    assert first["promoted"], first["reason"]
    assert first["version"] == first["champion_version"] == "1"
    client = registry.connect(settings)
    assert str(client.get_model_version_by_alias("proactive-uplift", registry.CHAMPION).version) == "1"
    aliases = client.get_registered_model("proactive-uplift").aliases
    assert registry.CHALLENGER not in aliases  # removed once the version was promoted
    run = client.get_run(first["run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "proactive-uplift"
    assert {"qini_auc", "uplift_at_30", "rows", "treated", "holdout"} <= set(run.data.metrics)
    assert run.data.params["method"] == "t_learner"
    assert "plots/qini.png" in [a.path for a in client.list_artifacts(first["run_id"], "plots")]
    text = str(run.data.params) + str(run.data.tags)
    inputs = mlflow.get_run(first["run_id"]).inputs.dataset_inputs
    text += "".join(d.dataset.schema + d.dataset.source for d in inputs)
    assert "@" not in text
    # no customer id (c00042) in params, tags or the dataset record; a git SHA may hold "c0" by chance
    assert not re.search(r"\bc\d{5}\b", text), text

    model, version = load_uplift_champion(settings)
    assert version == "1"
    _, metrics = train_uplift(duck, AS_OF)
    assert first["metrics"]["qini_auc"] == pytest.approx(metrics["qini_auc"])
    loaded = score_uplift(duck, model, AS_OF)
    fresh, _ = train_uplift(duck, AS_OF)
    pd.testing.assert_series_equal(loaded, score_uplift(duck, fresh, AS_OF))


def test_a_worse_than_random_uplift_model_stays_challenger(duck: Warehouse, settings: Settings) -> None:
    _randomized_company(duck)
    out = train_and_register_uplift(duck, settings, AS_OF, UpliftConfig(floors={"qini_auc": 2.0}))
    assert out["trained"]
    assert not out["promoted"]
    assert "below the floor" in out["reason"]
    assert load_uplift_champion(settings) is None  # outreach then targets by risk
