"""A seeded feature frame and churn labels for the modeling tests (the features of ``models/features.yaml``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from proactive_ml.features.point_in_time import feature_names, numeric_features


def feature_frame(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` customers' features and labels whose churn follows usage change, open tickets and the last NPS."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({c: rng.normal(10, 3, n) for c in numeric_features()})
    X["usage_change_30d"] = rng.uniform(-1, 1, n)
    X["last_nps"] = np.where(rng.random(n) < 0.3, np.nan, rng.integers(0, 11, n))
    X["days_since_last_nps"] = rng.uniform(0, 60, n)
    X["tickets_open"] = rng.integers(0, 4, n).astype(float)
    X["last_ticket_priority"] = rng.choice(["none", "low", "high"], n).astype(object)
    X["plan"] = rng.choice(["free", "pro"], n).astype(object)
    X = X[feature_names()]
    logit = -2.5 * X["usage_change_30d"] + 0.8 * X["tickets_open"] - 0.2 * X["last_nps"].fillna(7) - 0.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y
