"""Scoring: every active customer at a cutoff gets the champion's probability, its version and three reasons.

The ``scores`` table keeps history: one row per (customer_id, cutoff, target); scoring the same cutoff again
replaces that cutoff's rows in one transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

SCORE_COLUMNS = [
    "customer_id",
    "cutoff",
    "target",
    "score",
    "model_name",
    "model_version",
    "reason_1",
    "reason_2",
    "reason_3",
    "scored_at",
]


def score_frame(model: Any, explainer: dict[str, Any] | None, X: pd.DataFrame) -> pd.DataFrame:
    """Probabilities and top-3 reasons for feature rows ``X`` (pure: no storage, no MLflow)."""
    from proactive_ml.modeling.reasons import Explainer, top_reasons

    cols = list(getattr(model, "feature_names_in_", X.columns))
    p = model.predict_proba(X[cols])[:, 1] if len(X) else np.array([], dtype=float)
    out = pd.DataFrame({"score": p.astype(float)}, index=X.index)
    if explainer:
        reasons = top_reasons(Explainer.from_dict(explainer), X)
    else:
        reasons = pd.DataFrame({f"reason_{i}": [None] * len(X) for i in (1, 2, 3)}, index=X.index)
    return out.join(reasons)


def write_scores(wh: Any, scores: pd.DataFrame, cutoff: date, target: str) -> int:
    """Replace the rows of (cutoff, target) in ``scores`` with ``scores`` (all or nothing)."""
    with wh.transaction():
        wh.execute(
            "DELETE FROM scores WHERE cutoff = :cutoff AND target = :target",
            {"cutoff": cutoff, "target": target},
        )
        n = wh.insert_frame("scores", scores, SCORE_COLUMNS)
    return n


def score_customers(
    wh: Any, settings: Any, as_of: date | datetime, target: str = "churn", scored_at: datetime | None = None
) -> pd.DataFrame:
    """Score every customer active at ``as_of`` with ``models:/<name>@champion`` and store the result.

    Features use data strictly before ``as_of`` (the cutoff). Fails closed with UserError when there is no
    champion. Returns the rows written (columns of the ``scores`` table, one per customer).
    """
    from proactive_ml.features.point_in_time import as_timestamp, build_features
    from proactive_ml.modeling.registry import load_champion, model_name

    model, version, explainer = load_champion(settings, target)
    cutoff = as_timestamp(as_of).date()
    X = build_features(wh, cutoff)
    scored = score_frame(model, explainer, X)
    scored.insert(0, "customer_id", scored.index.astype(str))
    scored = scored.reset_index(drop=True)
    scored["cutoff"] = cutoff
    scored["target"] = target
    scored["model_name"] = model_name(settings, target)
    scored["model_version"] = version
    scored["scored_at"] = scored_at or as_timestamp(as_of)
    scored = scored[SCORE_COLUMNS]
    write_scores(wh, scored, cutoff, target)
    return scored
