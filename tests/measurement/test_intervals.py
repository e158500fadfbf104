"""Newcombe score intervals and the streaming bootstrap (pure, tiny data)."""

from __future__ import annotations

import numpy as np
import pytest

from proactive_ml.measurement import intervals
from proactive_ml.measurement.intervals import (
    always_valid_interval,
    bootstrap_ci,
    diff_ci,
    newcombe_interval,
    wald_interval,
    wilson_interval,
)


def test_newcombe_matches_the_published_example_and_beats_wald_when_an_arm_never_varies():
    d, lo, hi = newcombe_interval(90, 100, 74, 74)
    assert d == pytest.approx(-0.1)
    assert lo == pytest.approx(-0.1744, abs=5e-4)
    assert hi == pytest.approx(-0.0334, abs=5e-4)
    a, b = np.r_[np.ones(90), np.zeros(10)], np.ones(74)
    assert diff_ci(a, b) == pytest.approx((d, lo, hi))
    _, wlo, whi = wald_interval(a, b)
    assert hi - lo > whi - wlo  # Wald is too narrow here
    # both arms constant: Wald has zero width, Newcombe does not
    _, wlo, whi = wald_interval(np.ones(20), np.ones(30))
    _, nlo, nhi = diff_ci(np.ones(20), np.ones(30))
    assert whi - wlo == 0
    assert nhi - nlo > 0.1
    assert -1 <= nlo < 0 < nhi <= 1


def test_wilson_stays_inside_zero_one_and_handles_empty_arms():
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == 1.0
    assert np.isnan(newcombe_interval(1, 0, 1, 2)[1])
    assert np.isnan(diff_ci([], [1, 0])[0])


def test_non_binary_outcomes_use_the_wald_interval():
    a, b = np.array([1.0, 2.5, 3.0, 4.0]), np.array([0.5, 1.0, 2.0])
    assert diff_ci(a, b) == pytest.approx(wald_interval(a, b))


def test_streaming_bootstrap_agrees_with_newcombe_and_works_in_small_blocks(monkeypatch):
    rng = np.random.default_rng(1)
    a, b = rng.random(800) < 0.8, rng.random(400) < 0.7
    d, lo, hi = bootstrap_ci(a, b, n_boot=4000)
    _, nlo, nhi = diff_ci(a, b)
    assert lo < d < hi
    assert abs(lo - nlo) < 0.02
    assert abs(hi - nhi) < 0.02
    # continuous values go through the block path; tiny blocks give the same distribution
    x, y = rng.normal(1.0, 1, 300), rng.normal(0.0, 1, 200)
    monkeypatch.setattr(intervals, "BLOCK_ELEMENTS", 500)  # one or two draws per block
    d2, lo2, hi2 = bootstrap_ci(x, y, n_boot=2000)
    _, wlo, whi = wald_interval(x, y)
    assert abs(lo2 - wlo) < 0.05
    assert abs(hi2 - whi) < 0.05
    assert bootstrap_ci(x, y, n_boot=2000) == (d2, lo2, hi2)  # seeded


def test_always_valid_interval_is_wider_than_newcombe_and_rarely_alarms_on_daily_looks():
    d, lo, hi = always_valid_interval(8000, 10000, 1950, 2500)
    _, nlo, nhi = newcombe_interval(8000, 10000, 1950, 2500)
    assert lo < nlo < d < nhi < hi
    rng = np.random.default_rng(3)
    alarms = 0
    for _ in range(200):  # A/A, 60 daily looks
        n1, n2 = np.cumsum(np.full(60, 80)), np.cumsum(np.full(60, 20))
        x1, x2 = np.cumsum(rng.binomial(80, 0.8, 60)), np.cumsum(rng.binomial(20, 0.8, 60))
        _, lo_s, hi_s = always_valid_interval(x1, n1, x2, n2)
        alarms += bool(np.any((lo_s > 0) | (hi_s < 0)))
    assert alarms / 200 <= 0.06
    _, lo_e, _ = always_valid_interval(1, 0, 1, 2)
    assert np.isnan(lo_e)
