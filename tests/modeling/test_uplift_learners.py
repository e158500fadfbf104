"""The stronger uplift learners (doubly robust, X-learner), their declaration, and the honest choice among them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from threadpoolctl import threadpool_limits

from proactive_ml.errors import UserError
from proactive_ml.modeling.config import TWO_MODEL_LR, UpliftLearner, load_model_config
from proactive_ml.modeling.uplift import uplift_at_k
from proactive_ml.modeling.uplift_selection import (
    choose_learner,
    choose_then_report,
    fit_learner,
    split_scores,
)
from proactive_ml.modeling.uplift_training import fit_and_validate

SMALL_GBM = {"max_iter": 40, "min_samples_leaf": 40}
DR = UpliftLearner("dr", "dr_learner", "hgb", params=SMALL_GBM, effect_params=SMALL_GBM)
X_LEARNER = UpliftLearner("x", "x_learner", "hgb", params=SMALL_GBM, effect_params=SMALL_GBM)


def known_uplift(n: int = 4000, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Randomized 50/50 data whose true uplift is +0.3 for x1 > 0.5, -0.15 for x2 > 1, else 0."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    true = np.where(x1 > 0.5, 0.3, np.where(x2 > 1.0, -0.15, 0.0))
    t = (rng.random(n) < 0.5).astype(int)
    y = (rng.random(n) < np.clip(0.5 + 0.2 * np.tanh(x2) + t * true, 0, 1)).astype(int)
    X = pd.DataFrame({"x1": x1, "x2": x2, "plan": rng.choice(["free", "pro"], n)})
    return X, t, y, true


@pytest.mark.parametrize("spec", [DR, X_LEARNER], ids=lambda s: s.name)
def test_learner_recovers_a_known_uplift_better_than_random(spec: UpliftLearner) -> None:
    X, t, y, true = known_uplift()
    tr, te = slice(0, 2500), slice(2500, None)
    with threadpool_limits(limits=1):
        u = fit_learner(spec, X[tr], t[tr], y[tr]).predict_uplift(X[te])
    assert u.shape == (1500,)
    assert np.all(np.abs(u) <= 1)
    assert np.corrcoef(u, true[te])[0, 1] > 0.5
    budget = 450  # the top 30% by predicted uplift hold far more true uplift than a random 30%
    assert true[te][np.argsort(-u)[:budget]].mean() > true[te].mean() + 0.1
    rnd = np.random.default_rng(0).random(1500)
    assert uplift_at_k(y[te], u, t[te]) > uplift_at_k(y[te], rnd, t[te]) + 0.05


SPLINES = UpliftLearner("t_splines", "t_learner", "logistic", numeric="splines")
SPLINES_CV = UpliftLearner("t_splines_cv", "t_learner", "logistic_cv", numeric="splines")
DR_CV = UpliftLearner("dr_cv", "dr_learner", "logistic_cv", numeric="splines")


@pytest.mark.parametrize("spec", [SPLINES_CV, DR_CV], ids=lambda s: s.name)
def test_cv_base_chooses_its_strength_on_each_fits_rows(spec: UpliftLearner) -> None:
    X, t, y, true = known_uplift()
    tr, te = slice(0, 2500), slice(2500, None)
    one_value = replace(spec, params={"Cs": [1e4]}, effect_params={"alphas": [1e-4]})  # no choice left
    with threadpool_limits(limits=1):
        model = fit_learner(spec, X[tr], t[tr], y[tr])
        fixed = fit_learner(one_value, X[tr], t[tr], y[tr])
    u = model.predict_uplift(X[te])
    assert np.corrcoef(u, true[te])[0, 1] > 0.5
    for pipeline in model.models_.values():  # each fitted model carries the strength its inner CV chose
        est = pipeline.named_steps["clf"]
        assert (getattr(est, "C_", None) if spec.method == "t_learner" else est.alpha_) is not None
    assert not np.allclose(u, fixed.predict_uplift(X[te]))


@pytest.mark.parametrize("spec", [DR, SPLINES, SPLINES_CV], ids=lambda s: s.name)
def test_learner_survives_the_registry_serialisation(spec: UpliftLearner) -> None:
    X, t, y, _ = known_uplift(n=1500)
    with threadpool_limits(limits=1):
        model = fit_learner(spec, X, t, y)
    blob = sio.dumps(model)
    again = sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))
    np.testing.assert_array_equal(again.predict_uplift(X.head(50)), model.predict_uplift(X.head(50)))


def test_choice_uses_only_the_choice_seeds_and_refuses_overlap() -> None:
    X, t, y, _ = known_uplift(n=1500)
    learners = [TWO_MODEL_LR, DR]
    with threadpool_limits(limits=1):
        a = choose_then_report(X, t, y, learners, choice_seeds=(0, 1), report_seeds=(30,))
        b = choose_then_report(X, t, y, learners, choice_seeds=(0, 1), report_seeds=(31,))
        direct = split_scores(X, t, y, learners, (0, 1))
    # the report seeds change the reported figures, never the choice or the figures it was made on
    assert a["chosen"] == b["chosen"] == choose_learner(direct)
    assert a["choice_means"] == b["choice_means"] == {k: np.mean(v["uplift_at_k"]) for k, v in direct.items()}
    assert a["chosen_report"] != b["chosen_report"]
    with pytest.raises(ValueError, match=r"overlap: \[1\]"):
        choose_then_report(X, t, y, learners, choice_seeds=(0, 1), report_seeds=(1, 2))


def test_choose_learner_takes_the_best_mean_and_the_first_declared_on_ties() -> None:
    scores = {
        "a": {"uplift_at_k": [0.1, 0.3]},
        "b": {"uplift_at_k": [0.2, 0.2]},
        "c": {"uplift_at_k": [0.1, 0.1]},
    }
    assert choose_learner(scores) == "a"
    assert choose_learner({"c": scores["c"], "b": scores["b"]}) == "b"


def test_declared_learners_and_the_small_data_fallback() -> None:
    cfg = load_model_config().uplift
    names = [s.name for s in cfg.learners]
    assert {"two_model_lr", "dr_hgb", "x_hgb"} <= set(names)
    chosen = cfg.spec(cfg.learner)
    assert cfg.learner_for(chosen.min_rows).name == cfg.learner
    assert cfg.learner_for(chosen.min_rows - 1).name == (
        cfg.fallback_learner if chosen.min_rows else cfg.learner
    )
    assert cfg.spec(cfg.fallback_learner).min_rows == 0  # the fallback can always be trained


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("learner: nope", "uplift learner 'nope' is not declared"),
        ("learners: [{name: a, method: magic}]", r"uplift.learners\[0\]: needs a name, a method in"),
        ("learners: [{name: a, method: t_learner, depth: 3}]", r"unknown key\(s\) \['depth'\]"),
        ("learners: [{name: a, method: t_learner, numeric: cubes}]", r"numeric in \('scale'"),
        ("learners: [{name: a, method: t_learner, base: forest}]", r"base in \('logistic'"),
        ("colour: red", r"uplift: unknown key\(s\) \['colour'\]"),
    ],
)
def test_bad_uplift_declarations_are_one_line_errors(tmp_path: Path, block: str, message: str) -> None:
    path = tmp_path / "candidates.yaml"
    path.write_text("candidates: []\nuplift:\n  " + block + "\n")
    with pytest.raises(UserError, match=message) as err:
        load_model_config(path)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_training_uses_the_declared_learner_and_falls_back_on_few_rows() -> None:
    cfg = load_model_config().uplift
    chosen = cfg.spec(cfg.learner)
    X, t, y, _ = known_uplift(n=max(chosen.min_rows, 600))
    out = pd.DataFrame({"treatment": t, "retained": y})
    with threadpool_limits(limits=1):
        model, metrics, validation = fit_and_validate(X, out, cfg)
        few, _, _ = fit_and_validate(X.head(chosen.min_rows - 1), out.head(chosen.min_rows - 1), cfg)
    assert (model.method, model.numeric) == (chosen.method, chosen.numeric)
    assert metrics["uplift_at_30"] > 0.05  # the known uplift is found on the validation split
    assert validation is not None
    fallback = cfg.spec(cfg.fallback_learner)
    assert (few.method, few.numeric) == (fallback.method, fallback.numeric)
