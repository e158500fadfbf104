"""Measurement benchmark: do the report's intervals hold, is the bootstrap small, is daily peeking safe?

- ``aa_coverage_95``: share of the fixed-horizon 95% intervals the headline uses (``intervals.diff_ci``, Newcombe
  for 0/1 outcomes) that cover the true difference, over seeded light outcome simulations: half A/A (no effect),
  half A/B (effect drawn in -5 ... +10 points); control retention 60-97%; 30-5,000 treated customers; holdout
  10-50% of the treated size. ``wald_coverage_95`` is the old Wald interval on the same draws.
- ``bootstrap_peak_gb_1m``: peak resident memory (``resource.getrusage``, in a fresh process) of
  ``intervals.bootstrap_ci`` on 1M customers (900k treated, 100k holdout) x 2,000 draws, for 0/1 retention;
  ``bootstrap_peak_gb_1m_continuous`` the same on a continuous outcome (the block path, no shortcut).
- ``adjusted_width_ratio``: mean width of the cross-fitted regression-adjusted interval (``adjusted.adjusted_diff``
  on the churn score recorded at decision and log pre-period usage) / the plain interval the report shows, on a
  light simulated customer base (not the full simulated world): latent risk per customer, 30-day churn
  ``sigmoid(-1.4 + 1.2 risk)``, the outreach cuts churn by 15% (relative), a recorded churn score = the model's
  noisy view of the risk (AUC about 0.7), usage before the decision falling with risk; 5,000 customers, 20% held out.
  ``adjusted_coverage_95`` / ``plain_coverage_95``: how often each interval covers the true effect there.
- ``peeking_false_alarm_rate``: A/A, 60 days, customers arriving daily, a look every day with
  ``intervals.always_valid_interval``: the share of simulations where any look excludes 0.
  ``peeking_false_alarm_rate_fixed`` is the same with the fixed-horizon Newcombe interval (what peeking costs).
- ``ope_abs_error``: mean absolute error, in customers kept per email, of the doubly robust off-policy estimate
  (``policy_eval.compare_policies``, the policy check's estimator) of risk, uplift and random targeting at the same
  budget, against each policy's true value, on seeded simulated decision logs with known effects
  (``sim.policy_log``: 20 days x 2,000 eligible customers, 300 emails a day of which 10% drawn at random, the
  house's 14.5% holdout). ``ope_abs_error_<policy>`` per policy, ``ope_coverage_95`` how often the 95% intervals
  cover the truth, ``ope_switch_rate`` how often the check would switch to uplift (uplift is truly better there).
Last line: JSON.

Usage: ``python bench/measurement.py [--sims 2000]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np

from proactive_ml.measurement.adjusted import adjusted_diff
from proactive_ml.measurement.intervals import (
    always_valid_interval,
    diff_ci,
    newcombe_interval,
    wald_interval,
)


def _arm(x: int, n: int) -> np.ndarray:
    return np.r_[np.ones(x), np.zeros(n - x)]


def coverage(sims: int, seed: int = 0) -> tuple[float, float]:
    """Coverage of the shipped interval and of Wald over ``sims`` seeded A/A + A/B outcome simulations."""
    rng = np.random.default_rng(seed)
    hit = wald_hit = 0
    for s in range(sims):
        p_c = rng.uniform(0.60, 0.97)
        effect = 0.0 if s % 2 == 0 else rng.uniform(-0.05, 0.10)
        p_t = float(np.clip(p_c + effect, 0.0, 1.0))
        n_t = int(np.exp(rng.uniform(np.log(30), np.log(5000))))
        n_h = max(2, int(n_t * rng.uniform(0.1, 0.5)))
        a, b = _arm(rng.binomial(n_t, p_t), n_t), _arm(rng.binomial(n_h, p_c), n_h)
        truth = p_t - p_c
        _, lo, hi = diff_ci(a, b)
        hit += lo <= truth <= hi
        _, lo, hi = wald_interval(a, b)
        wald_hit += lo <= truth <= hi
    return hit / sims, wald_hit / sims


def peeking(sims: int, days: int = 60, seed: int = 1) -> tuple[float, float]:
    """False-alarm rate over daily looks on A/A: always-valid interval vs fixed-horizon Newcombe."""
    rng = np.random.default_rng(seed)
    alarms = fixed_alarms = 0
    for _ in range(sims):
        p = rng.uniform(0.60, 0.95)
        per_day = int(rng.integers(20, 200))
        n1 = np.cumsum(np.full(days, per_day))
        n2 = np.cumsum(np.full(days, max(1, per_day // 4)))
        x1 = np.cumsum(rng.binomial(per_day, p, days))
        x2 = np.cumsum(rng.binomial(max(1, per_day // 4), p, days))
        _, lo, hi = always_valid_interval(x1, n1, x2, n2)
        alarms += bool(np.any((lo > 0) | (hi < 0)))
        fixed = [newcombe_interval(*v) for v in zip(x1, n1, x2, n2, strict=True)]
        fixed_alarms += any(lo > 0 or hi < 0 for _, lo, hi in fixed)
    return alarms / sims, fixed_alarms / sims


def adjusted_width(sims: int, n: int = 5000, seed: int = 2) -> tuple[float, float, float, float]:
    """Mean adjusted/plain width ratio, adjusted and plain coverage, and the score's AUC on a light world."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    ratios, hit, plain_hit, aucs = [], 0, 0, []
    for _ in range(sims):
        risk = rng.normal(size=n)
        p_churn = 1 / (1 + np.exp(1.4 - 1.2 * risk))
        t = rng.random(n) >= 0.2
        truth = float(np.mean(p_churn) * 0.15)  # retention gained, averaged over the customers
        churn = rng.random(n) < np.where(t, 0.85 * p_churn, p_churn)
        y = (~churn).astype(float)
        score = 1 / (1 + np.exp(1.4 - 1.2 * (risk + rng.normal(0, 0.8, n))))
        usage = np.log1p(rng.poisson(np.exp(2.0 - 0.5 * risk)))
        d, lo, hi = adjusted_diff(y, t, np.column_stack([score, usage]))
        _, p_lo, p_hi = diff_ci(y[t], y[~t])
        ratios.append((hi - lo) / (p_hi - p_lo))
        hit += lo <= truth <= hi
        plain_hit += p_lo <= truth <= p_hi
        aucs.append(roc_auc_score(churn[~t], score[~t]))
    return float(np.mean(ratios)), hit / sims, plain_hit / sims, float(np.mean(aucs))


CHILD = """
import resource, sys, numpy as np
from proactive_ml.measurement.intervals import bootstrap_ci
rng = np.random.default_rng(0)
if sys.argv[1] == "binary":
    a, b = rng.random(900_000) < 0.8, rng.random(100_000) < 0.78
else:
    a, b = rng.gamma(2.0, 10.0, 900_000), rng.gamma(2.0, 9.8, 100_000)
d, lo, hi = bootstrap_ci(a, b, n_boot=2000)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, lo, hi)
"""


def bootstrap_peak_gb(kind: str) -> tuple[float, float]:
    """Peak RSS in GB (Linux ru_maxrss is KiB) and seconds of a 1M x 2,000 bootstrap in a fresh process."""
    t0 = time.perf_counter()
    out = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", CHILD, kind], capture_output=True, text=True, check=True
    ).stdout.split()
    return round(float(out[0]), 3), round(time.perf_counter() - t0, 1)


def off_policy(sims: int) -> dict[str, float]:
    """Error and coverage of the off-policy estimate on seeded simulated logs with known policy values."""
    from proactive_ml.measurement.policy_check import decide
    from proactive_ml.measurement.policy_eval import compare_policies, true_policy_values
    from proactive_ml.sim.policy_log import LogConfig, simulate_log

    cfg = LogConfig()
    errors: dict[str, list[float]] = {"risk": [], "uplift": [], "random": []}
    covered, switched = 0, 0
    for seed in range(sims):
        logged, candidates, budgets = simulate_log(cfg, seed)
        est = compare_policies(
            logged, holdout=cfg.holdout, features=["risk_score", "uplift_score"], seed=seed
        )
        truth = true_policy_values(candidates, budgets, {"risk": "risk_score", "uplift": "uplift_score"})
        for p, e in errors.items():
            e.append(abs(est.values[p].value - truth[p]))
            covered += est.values[p].low <= truth[p] <= est.values[p].high
        switched += decide(est).targeting == "uplift"
    out = {"ope_abs_error": round(float(np.mean([np.mean(e) for e in errors.values()])), 4)}
    out |= {f"ope_abs_error_{p}": round(float(np.mean(e)), 4) for p, e in errors.items()}
    out |= {"ope_coverage_95": round(covered / (3 * sims), 4), "ope_switch_rate": round(switched / sims, 4)}
    return out | {"ope_simulations": sims}


def main(sims: int) -> dict[str, float]:
    """All figures."""
    t0 = time.perf_counter()
    cov, wald = coverage(sims)
    peek, peek_fixed = peeking(max(1000, sims // 2))
    ratio, adj_cov, plain_cov, auc = adjusted_width(max(200, sims // 5))
    gb, secs = bootstrap_peak_gb("binary")
    gb_c, secs_c = bootstrap_peak_gb("continuous")
    return {
        "aa_coverage_95": round(cov, 4),
        "wald_coverage_95": round(wald, 4),
        "simulations": sims,
        "peeking_false_alarm_rate": round(peek, 4),
        "peeking_false_alarm_rate_fixed": round(peek_fixed, 4),
        "adjusted_width_ratio": round(ratio, 4),
        "adjusted_coverage_95": round(adj_cov, 4),
        "plain_coverage_95": round(plain_cov, 4),
        "adjusted_world_score_auc": round(auc, 3),
        "bootstrap_peak_gb_1m": gb,
        "bootstrap_seconds_1m": secs,
        "bootstrap_peak_gb_1m_continuous": gb_c,
        "bootstrap_seconds_1m_continuous": secs_c,
        **off_policy(max(20, sims // 100)),
        "seconds": round(time.perf_counter() - t0, 1),
    }


if __name__ == "__main__":
    n = int(sys.argv[sys.argv.index("--sims") + 1]) if "--sims" in sys.argv else 2000
    print(json.dumps(main(n)))
