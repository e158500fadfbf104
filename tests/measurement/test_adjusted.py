"""Regression adjustment (cross-fitted Lin / CUPED): narrower when covariates predict, unbiased, ~1 otherwise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from proactive_ml.measurement.adjusted import adjust, adjusted_diff, covariate_matrix, fold_ids
from proactive_ml.measurement.intervals import wald_interval


def _world(rng: np.random.Generator, n: int, signal: float, effect: float = 0.05):
    """0/1 retention; a pre-decision score shifts each customer's chance by up to ``signal``."""
    score = rng.random(n)
    t = rng.random(n) < 0.7
    p = np.clip(0.55 + signal * (0.5 - score) + effect * t, 0, 1)
    return (rng.random(n) < p).astype(float), t, score


def test_adjusted_interval_is_narrower_and_still_covers_the_truth():
    rng = np.random.default_rng(0)
    covered, ratios = 0, []
    for _ in range(150):
        y, t, score = _world(rng, 600, signal=0.8)
        d, lo, hi = adjusted_diff(y, t, score)
        _, p_lo, p_hi = wald_interval(y[t], y[~t])
        covered += lo <= 0.05 <= hi
        ratios.append((hi - lo) / (p_hi - p_lo))
    assert 0.90 <= covered / 150 <= 0.99
    assert np.mean(ratios) < 0.92


def test_no_covariate_signal_gives_a_ratio_near_one():
    rng = np.random.default_rng(1)
    y, t, score = _world(rng, 4000, signal=0.0)
    frame = pd.DataFrame({"retained_30d": y, "score": score, "usage_pre": rng.random(4000)})
    a = adjust(frame, "retained_30d", t)
    assert a.width_ratio == pytest.approx(1.0, abs=0.03)
    assert a.low <= a.diff <= a.high


def test_no_covariates_is_the_plain_difference_and_small_arms_give_nan():
    rng = np.random.default_rng(2)
    y, t, _ = _world(rng, 500, signal=0.0)
    d, lo, hi = adjusted_diff(y, t, np.empty((500, 0)))
    pd_, p_lo, p_hi = wald_interval(y[t], y[~t])
    assert d == pytest.approx(pd_, abs=1e-3)  # cross-fitted arm means, not the exact ones
    assert hi - lo == pytest.approx(p_hi - p_lo, rel=0.02)
    small = adjust(pd.DataFrame({"retained_30d": y[:30], "score": y[:30]}), "retained_30d", t[:30])
    assert np.isnan(small.diff)


def test_covariates_are_filled_flagged_and_folds_hold_both_arms():
    frame = pd.DataFrame({"score": [0.1, None, 0.3, 0.5], "usage_pre": [2.0, 2.0, 2.0, 2.0]})
    x = covariate_matrix(frame)
    assert x.shape == (4, 2)  # score (mean-filled) + missing flag; constant usage dropped
    assert x[1, 0] == pytest.approx(0.3)
    assert list(x[:, 1]) == [0, 1, 0, 0]
    t = np.arange(100) < 30
    ids = fold_ids(t, 3)
    assert all(0 < (t & (ids == f)).sum() < 30 for f in range(3))


def test_impact_table_and_display_carry_the_adjusted_estimate():
    from datetime import date

    from proactive_ml.measurement.headline import display_adjusted
    from proactive_ml.measurement.impact import impact_table, outcomes_frame
    from proactive_ml.sim.fixtures import synthetic_decisions

    dec, cust, need = synthetic_decisions(n=1200)
    churned = dec["customer_id"].map(cust.set_index("customer_id")["cancelled_at"].notna())
    dec["score"] = np.where(churned, 0.7, 0.2) + np.random.default_rng(3).normal(0, 0.2, len(dec))
    t = impact_table(outcomes_frame(dec, cust, need, date(2026, 12, 1)))
    row = t[(t["playbook"] == "ALL") & (t["outcome"] == "retained_60d")].iloc[0]
    # this score peeks at the outcome: a test of the plumbing only (validity is the simulations above)
    assert row["width_ratio"] < 0.8
    assert row["adj_low"] <= 0.06 <= row["adj_high"]
    shown = display_adjusted(t)
    assert shown["Interval width, adjusted / plain"].str.endswith("%").all()
    assert " to " in shown["Adjusted for churn score and usage"].iloc[0]
    assert display_adjusted(t.assign(adj_diff=np.nan)).empty
