"""What the label definition changes in a training: the window, the one-class check, the snapshot CV, MLflow notes.

- ``inactivity`` with ``horizon: auto``: :func:`resolve_horizon` picks the window from the return curve (gaps between
  consecutive events before ``as_of``); :func:`log_label` logs the choice, the curve (a plot) and the false-churn
  rate (labelled churned at a training cutoff, yet an event came later, before ``as_of``) to the training run.
- ``snapshot``: :func:`cross_validate` gives every candidate out-of-fold predictions on all rows (stratified 5-fold)
  and their CV metrics; the trainer then fits the best on all rows.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.model_selection import StratifiedKFold

from proactive_ml.errors import UserError
from proactive_ml.features.labels import choose_inactivity_window, max_gaps
from proactive_ml.modeling import registry
from proactive_ml.modeling.candidates import CandidateResult, fit_candidate
from proactive_ml.modeling.config import AUTO, LabelSpec
from proactive_ml.modeling.datasets import LABEL, split_xy
from proactive_ml.modeling.evaluate import evaluate_scores
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse

CV_FOLDS = 5

_FIXES = {
    (
        "subscription",
        0,
    ): "no customer was cancelled in these windows. If this company has no cancellation date "
    "(a purchase log), train with `--label inactivity --horizon auto`; else train later, with more history",
    ("subscription", 1): "every active customer was cancelled: check the cancelled_at mapping (dates format)",
    ("inactivity", 0): "every active customer had an event inside the window: choose a shorter `--horizon` "
    "or `--horizon auto`",
    ("inactivity", 1): "no active customer had an event inside the window: choose a longer `--horizon` "
    "(or `auto`), or check the usage events' dates",
    (
        "snapshot",
        0,
    ): "the label column holds only 'false' values: check `label: {from, true, false}` in the mapping",
    (
        "snapshot",
        1,
    ): "the label column holds only 'true' values: check `label: {from, true, false}` in the mapping",
    (
        "need",
        0,
    ): "no ticket or detractor survey in these windows: ingest tickets/feedback, or do not train `need`",
    ("need", 1): "every active customer needed help: check the tickets' and surveys' dates",
}


def check_two_classes(target: str, label: LabelSpec, frame: pd.DataFrame, window: str) -> None:
    """A UserError naming the target, the label, the window, the counts per class and the likely fix."""
    counts = frame[LABEL].value_counts() if len(frame) else pd.Series(dtype=int)
    if len(counts) >= 2:
        return
    only = int(counts.index[0]) if len(counts) else 0
    raise UserError(
        f"cannot train {target!r}: the training data has only one class. Label: {label.describe()}; "
        f"window: {window}; rows per class: 0 -> {int(counts.get(0, 0))}, 1 -> {int(counts.get(1, 0))}. "
        f"Likely fix: {_FIXES.get((label.definition, only), 'check the label definition in models/labels.yaml')}"
    )


def resolve_horizon(wh: Warehouse, label: LabelSpec, as_of: date) -> tuple[LabelSpec, pd.Series | None]:
    """The label with a number of days as horizon (``auto``: from the return curve) and the curve (or None)."""
    if label.horizon != AUTO:
        return label, None
    gaps, trailing = max_gaps(wh, as_of, label.qualifying_features)
    if len(gaps) == 0:
        raise UserError(f"horizon 'auto' needs usage events before {as_of}: none found")
    n, curve = choose_inactivity_window(gaps, label.return_threshold, label.max_auto_days, trailing)
    return replace(label, horizon=n), curve


def return_curve_figure(curve: pd.Series, chosen: int, threshold: float) -> Any:
    """The return curve: share of customers who ever came back after n days of silence, and the chosen n."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot(curve.index, curve.to_numpy(), label="silent > n days, then came back")
    ax.axhline(threshold, color="grey", linestyle=":", label=f"{threshold:.0%}")
    ax.axvline(chosen, color="red", linestyle="--", label=f"chosen n = {chosen} days")
    ax.set_xlabel("n (days without a qualifying event)")
    ax.set_ylabel("share of the customers silent > n days")
    ax.legend()
    fig.tight_layout()
    return fig


def label_summary(label: LabelSpec, train: pd.DataFrame, holdout: pd.DataFrame) -> dict[str, Any]:
    """Counts and rates of the label: lapsed customers left out, false churn (labelled churned, came back)."""
    churned = int((train[LABEL] == 1).sum()) if len(train) else 0
    came_back = int(train.attrs.get("n_came_back", 0))
    return {
        "label_definition": label.definition,
        "label_horizon_days": label.horizon,
        "n_lapsed": int(train.attrs.get("n_lapsed", 0)) + int(holdout.attrs.get("n_lapsed", 0)),
        "false_churn_rate": came_back / churned if churned else float("nan"),
    }


def log_label(
    settings: Settings, run_id: str, label: LabelSpec, summary: dict[str, Any], curve: pd.Series | None
) -> None:
    """Log the label definition, its counts and (auto window) the return curve plot to the training run."""
    client = registry.connect(settings)
    client.log_param(run_id, "label_definition", label.definition)
    client.log_param(run_id, "label_horizon", label.horizon)
    client.log_param(run_id, "label_horizon_auto", curve is not None)
    for k in ("n_lapsed", "false_churn_rate", "cv5_roc_auc", "cv5_pr_auc"):
        v = summary.get(k)
        if isinstance(v, int | float) and np.isfinite(v):
            client.log_metric(run_id, k, float(v))
    if curve is not None:
        fig = return_curve_figure(curve, int(label.horizon), label.return_threshold)
        client.log_figure(run_id, fig, "label/return_curve.png")
        client.log_dict(run_id, {str(k): float(v) for k, v in curve.items()}, "label/return_curve.json")


def cross_validate(
    specs: tuple[dict[str, Any], ...] | list[dict[str, Any]],
    frame: pd.DataFrame,
    columns: tuple[list[str], list[str]],
    seed: int = 0,
) -> list[CandidateResult]:
    """Every candidate's out-of-fold predictions on all rows (stratified 5-fold) and its CV metrics.

    ``metrics`` are those of the pooled out-of-fold predictions plus ``cv5_<metric>`` (mean over folds);
    ``model`` is the last fold's (the trainer refits the chosen one on all rows).
    """
    X, y = split_xy(frame)
    folds = list(StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed).split(X, y))
    out = []
    for spec in specs:
        oof = np.zeros(len(y))
        per_fold: list[dict[str, float]] = []
        fit_s, model = 0.0, None
        for tr, te in folds:
            r = fit_candidate(spec, (X.iloc[tr], y[tr]), (X.iloc[te], y[te]), columns, importance=False)
            oof[te] = r.holdout_proba
            per_fold.append(r.metrics)
            fit_s, model = fit_s + r.fit_seconds, r.model
        metrics = evaluate_scores(y, oof) | {"fit_seconds": fit_s}
        for k in ("roc_auc", "pr_auc"):
            metrics[f"cv5_{k}"] = float(np.mean([m[k] for m in per_fold]))
        out.append(CandidateResult(spec["name"], spec, model, metrics, pd.Series(dtype=float), oof, fit_s))
    return out
