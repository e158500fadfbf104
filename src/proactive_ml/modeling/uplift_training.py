"""Uplift targeting from the warehouse (edge): train on randomized decisions, score today's customers.

Training rows are the randomized decisions (treatment and holdout arms) whose outcome window has ended: features
as of the decision date (``proactive_ml.features.point_in_time.build_features``, point in time), outcome = retained at the
horizon. The model and evaluation are the pure code of :mod:`proactive_ml.modeling.uplift`; the resulting Series
goes to ``run_outreach(wh, settings, as_of, uplift=...)``, which then ranks by incremental value instead of risk.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from proactive_ml.modeling.uplift import (
    UpliftModel,
    fit_uplift,
    predict_uplift,
    qini_auc,
    randomized_outcomes,
    uplift_at_k,
)

MIN_ROWS_PER_ARM = 30


def uplift_training_set(
    wh: Any, as_of: date | datetime, horizon_days: int = 60
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(X, outcomes)``: point-in-time features at each decision date and treatment/retained per customer."""
    from proactive_ml.features.point_in_time import build_features

    dec = wh.query("SELECT send_key, as_of, customer_id, playbook, arm FROM decisions")
    cust = wh.query("SELECT customer_id, cancelled_at FROM customers")
    out = randomized_outcomes(dec, cust, as_of, horizon_days)
    if out.empty:
        return pd.DataFrame(), out
    frames = []
    for day, g in out.groupby(out["decided"].dt.date):
        feats = build_features(wh, day)
        frames.append(feats.reindex(g["customer_id"]).set_axis(g.index))
    X = pd.concat(frames).loc[out.index]
    keep = X.notna().any(axis=1).to_numpy()  # customers no longer active at the decision date have no row
    return X[keep], out[keep]


def train_uplift(
    wh: Any,
    as_of: date | datetime,
    horizon_days: int = 60,
    method: str = "t_learner",
    base: str = "logistic",
    seed: int = 42,
) -> tuple[UpliftModel | None, dict[str, Any]]:
    """Fit the uplift model on randomized decisions; returns ``(model or None, metrics)``.

    Metrics (Qini, uplift@30%) come from a stratified 30% validation split; the returned model is refit on all
    rows. None when there are fewer than ``MIN_ROWS_PER_ARM`` rows in an arm.
    """
    from sklearn.model_selection import train_test_split

    X, out = uplift_training_set(wh, as_of, horizon_days)
    n_t = int(out["treatment"].sum()) if len(out) else 0
    n_c = len(out) - n_t
    metrics: dict[str, Any] = {"rows": len(out), "treated": n_t, "holdout": n_c, "horizon_days": horizon_days}
    if n_t < MIN_ROWS_PER_ARM or n_c < MIN_ROWS_PER_ARM:
        metrics["status"] = "not enough randomized outcomes yet"
        return None, metrics
    t, y = out["treatment"].to_numpy(), out["retained"].to_numpy()
    strat = np.char.add(t.astype(str), y.astype(str))
    if min(np.unique(strat, return_counts=True)[1]) >= 2:
        idx_tr, idx_te = train_test_split(
            np.arange(len(out)), test_size=0.3, random_state=seed, stratify=strat
        )
        m = fit_uplift(X.iloc[idx_tr], t[idx_tr], y[idx_tr], method=method, base=base, random_state=seed)
        u = m.predict_uplift(X.iloc[idx_te])
        metrics.update(
            qini_auc=qini_auc(y[idx_te], u, t[idx_te]),
            uplift_at_30=uplift_at_k(y[idx_te], u, t[idx_te], k=0.3),
        )
    model = fit_uplift(X, t, y, method=method, base=base, random_state=seed)
    metrics["status"] = "trained"
    return model, metrics


def score_uplift(wh: Any, model: UpliftModel, as_of: date | datetime) -> pd.Series:
    """Incremental retention probability per active customer at ``as_of`` (for ``run_outreach(uplift=...)``)."""
    from proactive_ml.features.point_in_time import build_features

    X = build_features(wh, as_of)
    if X.empty:
        return pd.Series(dtype=float, name="uplift")
    return predict_uplift(model, X)
