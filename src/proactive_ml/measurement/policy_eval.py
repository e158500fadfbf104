"""Off-policy evaluation: how many customers each targeting policy would keep per email, from logged decisions.

Why: switching outreach from risk to uplift targeting should not rest on the uplift model's own validation; the
logged decisions can answer "what would uplift targeting have kept, at the same budget?" because every decision
records ``p_treat`` (its probability of treatment under the logging policy, :mod:`proactive_ml.outreach.exploration`)
and a declared share of each day's emails went to customers drawn at random.

The estimator (doubly robust, pure, over one row per logged email decision with its outcome):

- each logged decision stands for ``1 / q`` eligible customers, ``q = p_treat / (1 - holdout share)`` its
  probability of being selected (1 for the policy's choice, k / pool for the random draw);
- a cross-fitted outcome model (logistic regression per arm on the given features) gives ``mu1(x)``, ``mu0(x)``;
  the doubly robust score of each decision is ``mu1 - mu0 + T (Y - mu1) / (1 - h) - (1 - T) (Y - mu0) / h``, whose
  mean over any set of customers chosen by their features estimates the customers kept per email there;
- a policy at the same budget takes, each day, the customers with the highest policy score until their weights
  ``1 / q`` fill the day's budget (the email decisions the targeting policy itself made that day, exploration
  aside); random takes the same number at random from everyone eligible;
- its value = weighted mean of the doubly robust scores of what it takes: **customers kept per email**.

Intervals: a Poisson bootstrap of the decisions (each draw reweights every row by Poisson(1) and re-selects), paired
across policies so the difference uplift - risk gets its own one-sided 95% lower bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

POLICIES = ("risk", "uplift", "random")
EXPLORE = "explore"
N_BOOT = 400


@dataclass(frozen=True)
class PolicyValue:
    """Customers kept per email under one policy: estimate and 95% bootstrap interval."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class PolicyComparison:
    """Every policy's value and the paired difference uplift - risk with its one-sided 95% lower bound."""

    values: dict[str, PolicyValue]
    diff: float
    diff_lower95: float
    n_logged: int
    n_explored: int


def _outcome_model(x: np.ndarray, y: np.ndarray, t: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Cross-fitted (2 folds) P(Y=1 | x) per arm, for every row; the arm's mean when a fold cannot fit."""
    mu1, mu0 = np.empty(len(y)), np.empty(len(y))
    fold = np.random.default_rng(seed).random(len(y)) < 0.5
    for part in (fold, ~fold):
        train = ~part
        for arm, mu in ((1, mu1), (0, mu0)):
            rows = train & (t == arm)
            ys = y[rows]
            if len(ys) < 10 or ys.min() == ys.max():
                mu[part] = ys.mean() if len(ys) else y.mean()
                continue
            model = LogisticRegression(C=1.0, max_iter=200).fit(x[rows], ys)
            mu[part] = model.predict_proba(x[part])[:, 1]
    return mu1, mu0


def dr_scores(frame: pd.DataFrame, features: list[str], holdout: float, seed: int = 0) -> np.ndarray:
    """The doubly robust score per decision (see the module docstring); columns treated (0/1), y (0/1), features."""
    if not 0.0 < holdout < 1.0:
        raise ValueError(f"the holdout share must be in (0, 1), got {holdout}")
    x = frame[features].to_numpy(dtype=float)
    x = np.nan_to_num((x - np.nanmean(x, axis=0)) / (np.nanstd(x, axis=0) + 1e-9))
    y = frame["y"].to_numpy(dtype=float)
    t = frame["treated"].to_numpy(dtype=int)
    mu1, mu0 = _outcome_model(x, y, t, seed)
    return mu1 - mu0 + t * (y - mu1) / (1.0 - holdout) - (1 - t) * (y - mu0) / holdout


def _take(weights: np.ndarray, budget: float) -> np.ndarray:
    """Share of each row's weight a policy takes when rows come best first and the budget is filled in order.

    ``weights``: (draws, rows) in the policy's order. The row that crosses the budget is taken in part.
    """
    before = np.cumsum(weights, axis=1) - weights
    return np.clip((budget - before) / np.where(weights > 0, weights, 1.0), 0.0, 1.0) * (weights > 0)


def _values(
    frame: pd.DataFrame, psi: np.ndarray, w: np.ndarray, boot: np.ndarray, scores: dict[str, str]
) -> dict[str, np.ndarray]:
    """Per policy: kept per email for the point estimate (column 0) and each bootstrap draw (columns 1..)."""
    mult = np.vstack([np.ones(len(frame)), boot])  # (1 + draws, rows)
    kept = {p: np.zeros(len(mult)) for p in POLICIES}
    mass = {p: np.zeros(len(mult)) for p in POLICIES}
    own = (frame["policy"] != EXPLORE).to_numpy()
    for _, day in frame.groupby("day", sort=True).indices.items():
        budget = float(own[day].sum())  # the emails the targeting policy itself chose that day
        ww = mult[:, day] * w[day]
        for policy, col in scores.items():
            order = day[np.lexsort((frame["tiebreak"].to_numpy()[day], -frame[col].to_numpy(float)[day]))]
            wo = mult[:, order] * w[order]
            take = _take(wo, budget) * wo
            kept[policy] += take @ psi[order]
            mass[policy] += take.sum(axis=1)
        kept["random"] += budget * (ww @ psi[day]) / np.maximum(ww.sum(axis=1), 1e-12)
        mass["random"] += budget
    return {p: kept[p] / np.maximum(mass[p], 1e-12) for p in POLICIES}


def compare_policies(
    frame: pd.DataFrame,
    *,
    holdout: float,
    features: list[str],
    risk_col: str = "risk_score",
    uplift_col: str = "uplift_score",
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> PolicyComparison:
    """Risk, uplift and random targeting at the logged budget, valued on logged email decisions.

    ``frame``: one row per email decision whose outcome is known, with columns day, customer_id, treated (0/1),
    y (retained at the horizon, 0/1), p_treat, policy ('explore' for the random draw), the features of the outcome
    model and the two policy scores.
    """
    missing = {
        "day",
        "customer_id",
        "treated",
        "y",
        "p_treat",
        "policy",
        *features,
        risk_col,
        uplift_col,
    } - set(frame)
    if missing:
        raise ValueError(f"logged decisions lack columns: {', '.join(sorted(missing))}")
    f = frame[frame["p_treat"].notna() & (frame["p_treat"] > 0)].reset_index(drop=True)
    f = f.assign(tiebreak=f["customer_id"].astype(str))
    psi = dr_scores(f, features, holdout, seed)
    w = (1.0 - holdout) / f["p_treat"].to_numpy(dtype=float)
    boot = np.random.default_rng(seed + 1).poisson(1.0, size=(n_boot, len(f))).astype(float)
    v = _values(f, psi, w, boot, {"risk": risk_col, "uplift": uplift_col})
    out = {
        p: PolicyValue(float(v[p][0]), *map(float, np.percentile(v[p][1:], [2.5, 97.5]))) for p in POLICIES
    }
    d = v["uplift"] - v["risk"]
    explored = int((f["policy"] == EXPLORE).sum())
    return PolicyComparison(out, float(d[0]), float(np.percentile(d[1:], 5.0)), len(f), explored)


def true_policy_values(
    candidates: pd.DataFrame, budgets: pd.Series, scores: dict[str, str], effect: str = "true_effect"
) -> dict[str, float]:
    """What each policy truly keeps per email on a simulated candidate set with known effects (for checks).

    ``candidates``: every eligible customer per day (column day), their true effect and the policy scores;
    ``budgets``: emails per day. Random keeps the mean effect of the pool.
    """
    out: dict[str, float] = {}
    for policy, col in scores.items():
        kept = emails = 0.0
        for day, g in candidates.groupby("day"):
            top = g.sort_values([col, "customer_id"], ascending=[False, True]).head(int(budgets[day]))
            kept, emails = kept + top[effect].sum(), emails + len(top)
        out[policy] = kept / emails
    out["random"] = float(
        sum(g[effect].mean() * budgets[d] for d, g in candidates.groupby("day")) / budgets.sum()
    )
    return out
