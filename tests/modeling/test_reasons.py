"""Reasons agree with the model: exact contributions, only risk-raising reasons, the top decile always explained."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.modeling.samples import feature_frame

from proactive_ml.features.point_in_time import categorical_features, numeric_features
from proactive_ml.modeling.candidates import build_pipeline
from proactive_ml.modeling.config import load_model_config
from proactive_ml.modeling.reasons import (
    OVERALL_PROFILE,
    Explainer,
    contributions,
    fit_explainer,
    top_decile_reason_share,
    top_reason_features,
    top_reasons,
    when_words,
)


def _model(kind: str, X: pd.DataFrame, y: np.ndarray) -> Any:
    spec = next(dict(s) for s in load_model_config().candidates if s["kind"] == kind)
    if kind == "hist_gradient_boosting":  # a fast, small forest that still fits a few hundred rows
        spec["params"] = {**spec["params"], "max_iter": 40, "min_samples_leaf": 20}
    return build_pipeline(spec, numeric_features(), categorical_features()).fit(X, y)


@pytest.fixture(scope="module", params=["logistic_regression", "hist_gradient_boosting", "soft_voting"])
def fitted(request: pytest.FixtureRequest) -> tuple[Any, Explainer, pd.DataFrame]:
    X, y = feature_frame(500)
    if request.param == "soft_voting":
        spec = {"name": "soft_vote", "kind": "soft_voting", "members": list(load_model_config().candidates)}
        model = build_pipeline(spec, numeric_features(), categorical_features()).fit(X, y)
    else:
        model = _model(request.param, X, y)
    return model, fit_explainer(X, model.predict_proba(X)[:, 1]), X


def _linear_contributions(model: Any, explainer: Explainer, X: pd.DataFrame) -> pd.DataFrame:
    """The logistic model's own additive contributions: -a x coef . (T(x) - T(x with f at its reference))."""
    prep, cal = model[:-1], model[-1].calibrated_classifiers_[0]
    coef, a = cal.estimator.coef_.ravel(), float(cal.calibrators[0].a_)
    Xt = np.asarray(prep.transform(X), dtype=float)
    out = {}
    for f in X.columns:
        ref = X.copy()
        ref[f] = explainer.reference[f] if explainer.reference[f] is not None else np.nan
        out[f] = -a * ((Xt - np.asarray(prep.transform(ref), dtype=float)) @ coef)
    return pd.DataFrame(out, index=X.index)


def test_logistic_contributions_equal_the_models_additive_ones() -> None:
    X, y = feature_frame(400)
    model = _model("logistic_regression", X, y)
    expl = fit_explainer(X, model.predict_proba(X)[:, 1])
    mine = contributions(model, expl, X.head(60))
    own = _linear_contributions(model, expl, X.head(60))[mine.columns]
    np.testing.assert_allclose(mine.to_numpy(), own.to_numpy(), atol=1e-6)
    assert (
        mine["usage_change_30d"].corr(X["usage_change_30d"].head(60)) < -0.99
    )  # less usage growth, more risk


def test_every_reason_raises_risk_and_agrees_with_the_model(
    fitted: tuple[Any, Explainer, pd.DataFrame],
) -> None:
    model, expl, X = fitted
    p = model.predict_proba(X)[:, 1]
    feats, contrib = top_reason_features(model, expl, X, p)
    assert len(feats) > 0
    probes, base = [], []
    for idx, row in feats.head(60).iterrows():
        for f in row.dropna():
            assert contrib.loc[idx, f] > 0  # never a reason that lowers this customer's risk
            probe = X.loc[[idx]].copy()
            probe[f] = expl.reference[f] if expl.reference[f] is not None else np.nan
            probes.append(probe)
            base.append(p[X.index.get_loc(idx)])
    assert probes
    # the model itself: putting the feature at its typical value lowers this customer's probability
    assert (model.predict_proba(pd.concat(probes))[:, 1] < np.array(base)).all()


def test_top_decile_always_gets_a_reason(fitted: tuple[Any, Explainer, pd.DataFrame]) -> None:
    model, expl, X = fitted
    X2, _ = feature_frame(300, seed=7)  # new customers, not the training rows
    p = model.predict_proba(X2)[:, 1]
    frame = pd.DataFrame({"score": p}, index=X2.index).join(top_reasons(model, expl, X2, p))
    assert top_decile_reason_share(frame) == 1.0
    assert (
        frame.loc[frame["score"] < expl.explain_from, "reason_1"].isna().all()
    )  # low risk: nothing to explain
    texts = [t for t in frame[["reason_1", "reason_2", "reason_3"]].to_numpy().ravel() if t]
    assert all("{" not in t and "nan" not in t for t in texts)


def test_reasons_are_readable_and_true() -> None:
    X, y = feature_frame(600)
    model = _model("logistic_regression", X, y)
    expl = fit_explainer(X, model.predict_proba(X)[:, 1])
    typical = {c: (X[c].median() if c in numeric_features() else X[c].mode()[0]) for c in X.columns}
    probe = pd.DataFrame([typical] * 3)[X.columns]
    probe["usage_change_30d"] = [-0.9, 0.5, 0.5]
    probe["tickets_open"] = [0.0, 3.0, 0.0]
    probe["last_nps"] = [9.0, 9.0, 0.0]
    probe["days_since_last_nps"] = [3.0, 3.0, 6.0]
    r = top_reasons(model, expl, probe, np.ones(3))  # all three explained
    assert list(r.columns) == ["reason_1", "reason_2", "reason_3"]
    assert "usage down 90% over 30 days" in r.iloc[0].tolist()
    assert "3 unresolved tickets" in r.iloc[1].tolist()
    assert "NPS 0 last week" in r.iloc[2].tolist()
    assert not any("usage down" in (t or "") for t in r.iloc[1].tolist())  # growing usage is never a decline
    again = top_reasons(model, Explainer.from_dict(expl.to_dict()), probe, np.ones(3))  # JSON round trip
    pd.testing.assert_frame_equal(r, again)


def test_overall_profile_when_no_feature_raises_risk() -> None:
    X, y = feature_frame(400)
    model = _model("logistic_regression", X, y)
    expl = fit_explainer(X, model.predict_proba(X)[:, 1])
    typical = pd.DataFrame([expl.reference])[X.columns]  # the reference customer: every contribution is 0
    r = top_reasons(model, expl, typical, np.ones(1))
    assert r.iloc[0].tolist() == [OVERALL_PROFILE, None, None]


def test_declared_attributes_get_their_reason_text() -> None:
    X, y = feature_frame(400)
    X["contract"] = np.where(y == 1, "monthly", "yearly").astype(object)
    spec = next(dict(s) for s in load_model_config().candidates if s["kind"] == "logistic_regression")
    model = build_pipeline(spec, numeric_features(), [*categorical_features(), "contract"]).fit(X, y)
    expl = fit_explainer(X, model.predict_proba(X)[:, 1], {"contract": "on a {value} contract"})
    assert expl.kinds["contract"] == "categorical"
    r = top_reasons(model, expl, X[y == 1].head(20), np.ones(20))
    assert (r["reason_1"] == "on a monthly contract").all()


def test_former_surrogate_json_still_loads() -> None:
    old = {
        "numeric": ["usage_7d"],
        "categorical": ["plan"],
        "center": {"usage_7d": 4.0},
        "scale": {"usage_7d": 1.0},
        "coef": {"usage_7d": -0.1},
        "cat_coef": {"plan": {"pro": 0.0, "free": 0.2}},
        "intercept": 0.0,
        "r2": 0.9,
    }
    e = Explainer.from_dict(old)
    assert e.reference == {"usage_7d": 4.0, "plan": "pro"}
    assert e.explain_from == 0.0


def test_top_decile_share_counts_missing_reasons() -> None:
    f = pd.DataFrame({"score": np.linspace(0, 1, 20), "reason_1": [None] * 19 + ["x"]})
    assert top_decile_reason_share(f) == 0.5  # 2 customers in the top decile, one explained


def test_when_words() -> None:
    assert list(when_words(np.array([0.2, 1.5, 6, 20, 90, np.nan]))) == [
        "today",
        "yesterday",
        "last week",
        "3 weeks ago",
        "3 months ago",
        "",
    ]


def test_a_count_takes_its_plural_s_as_shown() -> None:
    from proactive_ml.features.point_in_time import FeatureSpec
    from proactive_ml.modeling.reasons import _format

    spec = FeatureSpec("open_tickets", "attribute", "numeric", "", "{value:.0f} unresolved ticket{s}")
    texts = _format(spec, np.array([1.0, 2.0, 1.2, 0.0]))
    assert texts.tolist() == [
        "1 unresolved ticket",
        "2 unresolved tickets",
        "1 unresolved ticket",
        "0 unresolved tickets",
    ]
    plan = FeatureSpec("plan", "attribute", "categorical", "", "on the {value} plan{s}")
    assert _format(plan, np.array(["pro"], dtype=object)).tolist() == ["on the pro plan"]
