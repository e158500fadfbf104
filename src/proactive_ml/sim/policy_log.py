"""A light simulated decision log with known truth: for checking the off-policy estimator (tests and bench).

Each day ``n`` eligible customers arrive with a latent risk and a latent persuadability; the churn score is a noisy
view of the risk, the uplift score a noisy view of the true effect of an email on 30-day retention. The logging
policy is the product's: the ``budget - k`` highest risk scores, plus ``k = exploration_share x budget`` drawn at
random from the rest (:mod:`proactive_ml.outreach.exploration`), then a randomized holdout; ``p_treat`` is recorded
as the product records it. The truth of every policy is known because every customer's true effect is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class LogConfig:
    """Size and shape of the simulated log."""

    days: int = 20
    customers_per_day: int = 2000
    budget: int = 300
    exploration_share: float = 0.1
    holdout: float = 0.145  # 5% global + 10% of the rest per playbook: the house defaults
    score_noise: float = 0.6
    uplift_noise: float = 0.6
    effect_slope: float = 0.05  # how much the effect of an email grows with persuadability


def simulate_log(cfg: LogConfig, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """(logged email decisions with outcomes, every candidate with its true effect, policy emails per day)."""
    rng = np.random.default_rng(seed)
    frames = []
    for day in range(cfg.days):
        n = cfg.customers_per_day
        risk = rng.normal(size=n)
        persuade = 0.4 * risk + rng.normal(size=n)
        p0 = 1.0 / (1.0 + np.exp(-(1.6 - 1.0 * risk)))  # retained without an email
        p1 = np.clip(p0 + np.clip(0.03 + cfg.effect_slope * persuade, -0.04, 3 * cfg.effect_slope), 0.0, 1.0)
        frames.append(
            pd.DataFrame(
                {
                    "day": day,
                    "customer_id": [f"d{day:03d}c{i:05d}" for i in range(n)],
                    "risk_score": risk + rng.normal(0, cfg.score_noise, n),
                    "uplift_score": (p1 - p0) + rng.normal(0, cfg.uplift_noise * 0.05, n),
                    "true_effect": p1 - p0,
                    "p0": p0,
                    "p1": p1,
                }
            )
        )
    candidates = pd.concat(frames, ignore_index=True)
    logged = _log(candidates, cfg, rng)
    # the targeting policy's own emails: the budget every policy gets
    own = logged[logged["policy"] != "explore"]
    budgets = own.groupby("day").size().reindex(range(cfg.days), fill_value=0)
    return logged, candidates, budgets


def _log(candidates: pd.DataFrame, cfg: LogConfig, rng: np.random.Generator) -> pd.DataFrame:
    """The logging policy's decisions (risk + exploration + holdout) with their outcomes and p_treat."""
    k = int(round(cfg.exploration_share * cfg.budget))
    out = []
    for _, g in candidates.groupby("day", sort=True):
        g = g.sort_values(["risk_score", "customer_id"], ascending=[False, True])
        chosen = g.head(cfg.budget - k).assign(policy="risk", p_select=1.0)
        pool = g.iloc[cfg.budget - k :]
        drawn = pool.iloc[rng.permutation(len(pool))[:k]]
        out += [chosen, drawn.assign(policy="explore", p_select=min(1.0, k / max(len(pool), 1)))]
    d = pd.concat(out, ignore_index=True)
    d["treated"] = (rng.random(len(d)) >= cfg.holdout).astype(int)
    d["y"] = (rng.random(len(d)) < np.where(d["treated"] == 1, d["p1"], d["p0"])).astype(int)
    d["p_treat"] = d["p_select"] * (1.0 - cfg.holdout)
    return d
