"""The three ways of computing contributions agree: ablation == transformed ablation == linear, reasons identical."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from proactive_ml.features.point_in_time import categorical_features, feature_names, numeric_features
from proactive_ml.modeling.candidates import build_pipeline
from proactive_ml.modeling.config import load_model_config
from proactive_ml.modeling.contributions import (
    ablation,
    affine_logit,
    column_origins,
    feature_contributions,
    probabilities,
)
from proactive_ml.modeling.reasons import fit_explainer, top_reason_features, top_reasons


def _frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({c: rng.gamma(2.0, 5.0, n) for c in numeric_features()})
    X["usage_change_30d"] = rng.uniform(-1, 1, n)
    X["last_nps"] = np.where(rng.random(n) < 0.3, np.nan, rng.integers(0, 11, n))
    X["days_since_last_email"] = (
        np.nan
    )  # all missing when fitted: kept (keep_empty_features) with its indicator
    X["tickets_open"] = rng.integers(0, 4, n).astype(float)
    X["last_ticket_priority"] = rng.choice(["none", "low", "high", "urgent"], n, p=[0.6, 0.2, 0.19, 0.01])
    X["plan"] = rng.choice(["free", "pro", "enterprise"], n).astype(object)
    X = X[feature_names()]
    X["last_ticket_priority"] = X["last_ticket_priority"].astype(object)
    logit = -2.5 * X["usage_change_30d"] + 0.8 * X["tickets_open"] - 0.2 * X["last_nps"].fillna(7) - 0.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def _spec(kind: str) -> dict[str, Any]:
    spec = next(dict(s) for s in load_model_config().candidates if s["kind"] == kind)
    if kind == "hist_gradient_boosting":
        spec["params"] = {**spec["params"], "max_iter": 30, "min_samples_leaf": 20}
    return spec


def _fit(spec: dict[str, Any], X: pd.DataFrame, y: np.ndarray) -> Any:
    return build_pipeline(spec, numeric_features(), categorical_features()).fit(X, y)


def _new_rows(n: int) -> pd.DataFrame:
    """Unseen customers, with a category unknown at fit time and extreme values (clipped log-odds)."""
    X, _ = _frame(n, seed=3)
    X.loc[X.index[:5], "plan"] = "legacy"
    X.loc[X.index[5:8], "tickets_open"] = 400.0
    X.loc[X.index[8:10], "days_since_last_email"] = 12.0
    return X


@pytest.mark.parametrize(
    ("spec", "linear"),
    [
        ({"name": "lr", "kind": "logistic_regression", "params": {"C": 1.0, "max_iter": 300}}, True),
        (_spec("logistic_regression"), True),
        (_spec("hist_gradient_boosting"), False),
    ],
    ids=["plain_logistic", "calibrated_logistic_log1p", "calibrated_boosting"],
)
def test_fast_paths_equal_the_ablation(spec: dict[str, Any], linear: bool) -> None:
    X, y = _frame(600)
    model = _fit(spec, X, y)
    expl = fit_explainer(X, model.predict_proba(X)[:, 1])
    assert (affine_logit(model[-1]) is not None) is linear
    new = _new_rows(300)
    p, Xt = probabilities(model, new)
    np.testing.assert_array_equal(p, model.predict_proba(new)[:, 1])  # the same scores, bit for bit
    fast = feature_contributions(model, expl.features, expl.reference, new, Xt)
    slow = ablation(model, expl.reference, list(fast.columns), new[list(model.feature_names_in_)])
    assert list(fast.columns) == expl.features
    np.testing.assert_allclose(fast.to_numpy(), slow, rtol=1e-7, atol=1e-9)
    assert (np.abs(fast.to_numpy()) > 1e-6).sum() > 2 * len(
        new
    )  # several per customer are not 0: a real test
    again = feature_contributions(model, expl.features, expl.reference, new)  # without the scoring's rows
    np.testing.assert_allclose(again.to_numpy(), fast.to_numpy(), rtol=0, atol=1e-12)


def test_reasons_are_the_same_whichever_way() -> None:
    X, y = _frame(800)
    model = _fit(_spec("logistic_regression"), X, y)
    expl = fit_explainer(X, model.predict_proba(X)[:, 1])
    new = _new_rows(500)
    p, Xt = probabilities(model, new)
    fast = top_reasons(model, expl, new, p, transformed=Xt)
    feats, _ = top_reason_features(model, expl, new, p, transformed=Xt)
    assert len(feats) > 50
    # the same model behind a step this module does not know: the general ablation must be taken
    opaque = Pipeline([("same", FunctionTransformer().fit(X)), ("model", model)])
    assert column_origins(opaque[:-1], len(model.feature_names_in_)) is None
    pd.testing.assert_frame_equal(top_reasons(opaque, expl, new, p), fast)


def test_origins_of_the_shipped_preprocessing() -> None:
    X, y = _frame(400)
    model = _fit(_spec("logistic_regression"), X, y)
    cols = list(model.feature_names_in_)
    origins = column_origins(model[:-1], len(cols))
    assert origins is not None
    names = model[:-1].get_feature_names_out()
    assert len(origins) == len(names)
    for name, origin in zip(names, origins, strict=True):
        bare = name.split("__", 1)[1].removeprefix("log1p_").removeprefix("missingindicator_")
        assert bare == cols[origin] or bare.startswith(cols[origin] + "_")  # one-hot: <feature>_<level>


def test_soft_voting_takes_the_ablation() -> None:
    X, y = _frame(400)
    spec = {"name": "vote", "kind": "soft_voting", "members": list(load_model_config().candidates)}
    model = build_pipeline(spec, numeric_features(), categorical_features()).fit(X, y)
    expl = fit_explainer(X, model.predict_proba(X)[:, 1])
    p, Xt = probabilities(model, X.head(40))
    assert Xt is None
    got = feature_contributions(model, expl.features, expl.reference, X.head(40))
    want = ablation(model, expl.reference, list(got.columns), X.head(40)[list(model.feature_names_in_)])
    np.testing.assert_array_equal(got.to_numpy(), want)


@pytest.mark.parametrize("kind", ["logistic_regression", "hist_gradient_boosting"])
def test_a_category_never_seen_in_training_still_gets_reasons(kind: str) -> None:
    """A company without tickets: the ticket priority is missing on every row, so its reference is missing too.

    Setting the reference row's category to a float NaN made scikit-learn's encoder raise a TypeError in scoring.
    """
    X, y = _frame(600)
    X["last_ticket_priority"] = pd.Series(None, index=X.index, dtype=object)
    model = _fit(_spec(kind), X, y)
    expl = fit_explainer(X, model.predict_proba(X)[:, 1])
    assert expl.reference["last_ticket_priority"] is None
    new = _frame(200, seed=5)[0].assign(last_ticket_priority=None)
    p, Xt = probabilities(model, new)
    fast = feature_contributions(model, expl.features, expl.reference, new, Xt)
    slow = ablation(model, expl.reference, list(fast.columns), new[list(model.feature_names_in_)])
    np.testing.assert_allclose(fast.to_numpy(), slow, rtol=1e-7, atol=1e-9)
    assert np.allclose(fast["last_ticket_priority"], 0, atol=1e-9)  # never a reason: it says nothing
    assert len(top_reasons(model, expl, new, p, transformed=Xt)) == len(new)
