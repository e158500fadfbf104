"""Training of the churn and need models: the job :func:`train_and_register`.

It reads top to bottom: data -> fit -> evaluate -> log -> register -> gate.

The pure pieces live in :mod:`~proactive_ml.modeling.datasets` (cutoffs, training frames) and
:mod:`~proactive_ml.modeling.candidates` (pipelines, fitting, selection); MLflow is touched only through
:mod:`~proactive_ml.modeling.tracking` (runs) and :mod:`~proactive_ml.modeling.registry` (versions, aliases).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from proactive_ml.errors import UserError
from proactive_ml.features.point_in_time import attribute_reasons, feature_kinds
from proactive_ml.modeling import label_training, registry, tracking
from proactive_ml.modeling.candidates import CandidateResult, fit_candidate, select_best
from proactive_ml.modeling.config import (
    CANDIDATES_YAML,
    LABELS_YAML,
    Gates,
    LabelSpec,
    TrainingConfig,
    label_spec,
    load_model_config,
    resolve_members,
)
from proactive_ml.modeling.datasets import (
    CUTOFF,
    build_dataset,
    data_start,
    snapshot_dataset,
    split_xy,
    training_cutoffs,
)
from proactive_ml.modeling.reasons import fit_explainer
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse


def decide_promotion(
    challenger: dict[str, float], champion: dict[str, float] | None, gates: Gates
) -> tuple[bool, str]:
    """Should the challenger become champion? Returns (decision, reason in words)."""
    for name, floor in gates.floors.items():
        v = challenger.get(name, float("nan"))
        if not (v >= floor):
            return False, f"{name} {v:.4f} is below the floor {floor}"
    m = gates.metric
    if champion is None:
        return True, f"no champion yet; {m} {challenger[m]:.4f} passes the floors"
    need = champion[m] + gates.min_improvement
    if challenger[m] >= need:
        return True, (
            f"{m} {challenger[m]:.4f} beats the champion's {champion[m]:.4f} on the same holdout by "
            f"{challenger[m] - champion[m]:+.4f} (margin {gates.min_improvement})"
        )
    return False, (
        f"{m} {challenger[m]:.4f} does not beat the champion's {champion[m]:.4f} on the same holdout by the "
        f"margin {gates.min_improvement} ({challenger[m] - champion[m]:+.4f})"
    )


def training_frames(
    wh: Warehouse, as_of: date, target: str, cfg: TrainingConfig, label: LabelSpec | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(train, holdout, meta): the point-in-time frames of a training as of ``as_of`` and what they are."""
    train_cuts, holdout_cut = training_cutoffs(as_of, cfg, data_start(wh))
    kw: dict[str, Any] = {"label": label, "data_end": as_of}
    train = build_dataset(wh, train_cuts, target, cfg.horizon_days, cfg.exclude_treated, **kw)
    holdout = build_dataset(wh, [holdout_cut], target, cfg.horizon_days, cfg.exclude_treated, **kw)
    if holdout.empty or train.empty:
        raise UserError(f"no active customers to train on as of {as_of}")
    n_rows = len(train)
    if cfg.max_train_rows is not None and n_rows > cfg.max_train_rows:
        # uniform, not stratified: class shares (and so calibrated probabilities) stay those of the population
        train = train.sample(n=cfg.max_train_rows, random_state=0).sort_values(CUTOFF, kind="stable")
    meta = {
        "target": target,
        "as_of": str(as_of),
        "horizon_days": cfg.horizon_days,
        "train_cutoffs": [str(c) for c in train_cuts],
        "holdout_cutoff": str(holdout_cut),
        "exclude_treated": cfg.exclude_treated,
        "n_excluded_treated": train.attrs.get("n_excluded_treated", 0)
        + holdout.attrs.get("n_excluded_treated", 0),
        "selection_metric": cfg.selection_metric,
        "n_train_rows_available": n_rows,
    }
    return train, holdout, meta


def gate_and_register(
    settings: Settings,
    target: str,
    best: CandidateResult,
    holdout: pd.DataFrame,
    logged: dict[str, Any],
    gates: Gates,
) -> dict[str, Any]:
    """Register the best as ``challenger``; move ``champion`` to it when it beats the champion on this holdout."""
    Xho, yho = split_xy(holdout)
    champion = registry.evaluate_champion(settings, target, Xho, yho)
    promote, reason = decide_promotion(best.metrics, champion["metrics"] if champion else None, gates)
    version = registry.register_challenger(
        settings, target, logged["model_uri"], logged["best_run_id"], reason
    )
    if promote:
        registry.set_champion(settings, target, version, reason)
    return {
        "version": version,
        "promoted": promote,
        "reason": reason,
        "previous_champion_version": champion["version"] if champion else None,
        "champion_version": registry.champion_version(settings, target),
    }


def _result(
    settings: Settings, target: str, logged: dict[str, Any], gate: dict[str, Any], best: CandidateResult
) -> dict[str, Any]:
    return {
        "target": target,
        "model_name": registry.model_name(settings, target),
        "experiment": registry.experiment_name(target),
        "parent_run_id": logged["parent_run_id"],
        "child_run_ids": logged["child_run_ids"],
        "best": best.name,
        **gate,
    }


def train_snapshot(
    wh: Warehouse,
    settings: Settings,
    as_of: date,
    target: str,
    specs: tuple[dict[str, Any], ...],
    tcfg: TrainingConfig,
    gates: Gates,
    label: LabelSpec,
) -> dict[str, Any]:
    """The snapshot label: 5-fold cross-validated metrics per candidate, then the best fitted on all rows."""
    frame = snapshot_dataset(wh, as_of)
    label_training.check_two_classes(target, label, frame, "none (snapshot: one row per customer)")
    X, y = split_xy(frame)
    columns = feature_kinds(X)
    cv = label_training.cross_validate(specs, frame, columns)
    best_cv = select_best(cv, tcfg.selection_metric)
    full = fit_candidate(best_cv.spec, (X, y), (X, y), columns, importance=False)
    best = replace(best_cv, model=full.model)
    results = [best if r is best_cv else r for r in cv]
    explainer = fit_explainer(X, best.model.predict_proba(X)[:, 1], attribute_reasons(wh, X.columns))
    meta = {
        "target": target,
        "as_of": str(as_of),
        "horizon_days": 0,
        "train_cutoffs": [],
        "holdout_cutoff": f"cv{label_training.CV_FOLDS}",
        "exclude_treated": False,
        "selection_metric": tcfg.selection_metric,
    }
    logged = tracking.log_training(settings, target, results, best, (frame, frame), explainer, meta)
    summary = {"label_definition": "snapshot", "cv5_roc_auc": best.metrics["cv5_roc_auc"]}
    summary["cv5_pr_auc"] = best.metrics["cv5_pr_auc"]
    label_training.log_label(settings, logged["parent_run_id"], label, summary, None)
    gate = gate_and_register(settings, target, best, frame, logged, gates)
    return _result(settings, target, logged, gate, best) | {
        "metrics": {r.name: r.metrics for r in results},
        "label": "snapshot",
        "cv5_roc_auc": best.metrics["cv5_roc_auc"],
        "n_rows": len(frame),
        "n_positive": int(y.sum()),
    }


def train_and_register(
    wh: Warehouse,
    settings: Settings,
    as_of: date | datetime,
    target: str = "churn",
    candidates: list[dict[str, Any]] | None = None,
    config_path: str | Path = CANDIDATES_YAML,
    exclude_treated: bool | None = None,
    training: dict[str, Any] | None = None,
    label: str | None = None,
    horizon: int | str | None = None,
    labels_path: str | Path = LABELS_YAML,
) -> dict[str, Any]:
    """Train, log, register and gate every candidate for ``target`` on history before ``as_of``.

    The best is logged to MLflow, registered as ``challenger`` and promoted to ``champion`` if it passes the gates.

    ``candidates`` overrides the declared ones (tests force a worse challenger this way); ``training`` overrides
    keys of the declared ``training:`` block (e.g. a short-history profile for the demo); ``label`` and ``horizon``
    override the target's label definition of ``models/labels.yaml`` (``horizon`` may be ``"auto"``). Returns a summary:
    target, model_name, parent_run_id, child_run_ids, best, metrics (per candidate), version, promoted, reason,
    champion_version, holdout_cutoff, train_cutoffs.
    """
    as_of_d = as_of.date() if isinstance(as_of, datetime) else as_of
    cfg = load_model_config(config_path)
    tcfg = replace(cfg.training, **(training or {}))
    if exclude_treated is not None:
        tcfg = replace(tcfg, exclude_treated=exclude_treated)
    specs = resolve_members(list(candidates), "candidates") if candidates is not None else cfg.candidates
    spec = label_spec(target, labels_path, label, horizon)
    if spec.definition == "snapshot":
        return train_snapshot(wh, settings, as_of_d, target, specs, tcfg, cfg.gates, spec)
    spec, curve = label_training.resolve_horizon(wh, spec, as_of_d)
    if horizon is not None or spec.definition == "inactivity" or "horizon_days" not in (training or {}):
        tcfg = replace(tcfg, horizon_days=int(spec.horizon))
    spec = replace(spec, horizon=tcfg.horizon_days)

    train, holdout, meta = training_frames(wh, as_of_d, target, tcfg, spec)
    window = (
        f"{tcfg.horizon_days} days after each cutoff ({meta['train_cutoffs'][0]} .. {meta['holdout_cutoff']})"
    )
    label_training.check_two_classes(target, spec, train, window)
    columns = feature_kinds(split_xy(train)[0])
    results = [fit_candidate(s, split_xy(train), split_xy(holdout), columns) for s in specs]
    best = select_best(results, tcfg.selection_metric)
    Xtr, _ = split_xy(train)
    explainer = fit_explainer(Xtr, best.model.predict_proba(Xtr)[:, 1], attribute_reasons(wh, Xtr.columns))

    logged = tracking.log_training(settings, target, results, best, (train, holdout), explainer, meta)
    summary = label_training.label_summary(spec, train, holdout)
    label_training.log_label(settings, logged["parent_run_id"], spec, summary, curve)
    gate = gate_and_register(settings, target, best, holdout, logged, cfg.gates)
    return _result(settings, target, logged, gate, best) | {
        "metrics": {r.name: r.metrics for r in results},
        "holdout_cutoff": meta["holdout_cutoff"],
        "train_cutoffs": meta["train_cutoffs"],
        "n_train_rows": len(train),
        "n_holdout_rows": len(holdout),
        **summary,
    }
