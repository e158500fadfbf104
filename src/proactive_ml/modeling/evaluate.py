"""Model metrics on a holdout: ranking, probability quality and the top-k view.

Ranking (ROC-AUC, PR-AUC), probability quality (Brier, log loss) and the view a customer-success team acts on
(lift and recall when contacting the top 5/10/20%).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

TOP_FRACTIONS = (0.05, 0.10, 0.20)


def top_k_metrics(y: np.ndarray, p: np.ndarray, fraction: float) -> tuple[float, float]:
    """(lift, recall) when the top ``fraction`` of customers by score are selected (ties broken by order)."""
    y = np.asarray(y, dtype=float)
    n = len(y)
    k = max(1, int(round(fraction * n)))
    order = np.argsort(-np.asarray(p, dtype=float), kind="stable")[:k]
    base = y.mean() if n else 0.0
    hits = y[order].sum()
    lift = float((hits / k) / base) if base > 0 else 0.0
    recall = float(hits / y.sum()) if y.sum() > 0 else 0.0
    return lift, recall


def evaluate_scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """All holdout metrics of predicted probabilities ``p`` for 0/1 labels ``y``."""
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    both = len(np.unique(y)) == 2
    out = {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "base_rate": float(y.mean()) if len(y) else float("nan"),
        "n": float(len(y)),
    }
    for f in TOP_FRACTIONS:
        lift, recall = top_k_metrics(y, p, f)
        pct = int(round(f * 100))
        out[f"lift_at_{pct}"] = lift
        out[f"recall_at_{pct}"] = recall
    return out
