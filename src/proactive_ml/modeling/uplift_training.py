"""The uplift model's job (edge): train on randomized decisions, log and register it, load it by alias, score.

Training rows are the randomized decisions (treatment and holdout arms) whose outcome window has ended: features
as of the decision date (point in time), outcome = retained at the horizon. The learner is the one declared in
``models/candidates.yaml`` (``uplift: learner``, chosen by bench/hillstrom.py on split seeds 0-29), or the
declared fallback when there are fewer rows than its ``min_rows``. The model and its evaluation are the
pure code of :mod:`proactive_ml.modeling.uplift`. :func:`train_and_register_uplift` (the train flow's step) logs
each training to the ``proactive-uplift`` experiment and registers the model as ``<prefix>-uplift`` with the
``challenger``/``champion`` aliases; outreach loads ``@champion`` (:func:`load_uplift_champion`) and ranks by
:func:`score_uplift`'s incremental value instead of risk. Without a champion outreach targets by risk.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from proactive_ml.features.point_in_time import as_timestamp, build_features
from proactive_ml.modeling import registry, tracking
from proactive_ml.modeling.config import UpliftConfig, load_model_config
from proactive_ml.modeling.uplift import (
    UpliftModel,
    predict_uplift,
    qini_auc,
    randomized_outcomes,
    uplift_at_k,
)
from proactive_ml.modeling.uplift_selection import fit_learner
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse

UPLIFT = "uplift"  # the registry's target name: experiment proactive-uplift, model <prefix>-uplift
MIN_ROWS_PER_ARM = UpliftConfig().min_rows_per_arm
Validation = tuple[np.ndarray, np.ndarray, np.ndarray]  # (retained, predicted uplift, treatment)


def uplift_training_set(
    wh: Warehouse, as_of: date | datetime, horizon_days: int = 60
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(X, outcomes)``: point-in-time features at each decision date and treatment/retained per customer."""
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


def fit_and_validate(
    X: pd.DataFrame, out: pd.DataFrame, cfg: UpliftConfig
) -> tuple[UpliftModel, dict[str, float], Validation | None]:
    """Qini and uplift@30% on a stratified validation split, then the model refit on all rows.

    The learner is the declared one (``cfg.learner``), or the fallback when there are fewer rows than its
    ``min_rows``. The validation is None (and the metrics empty) when an arm/outcome stratum has fewer than two rows.
    """
    spec = cfg.learner_for(len(out))
    t, y = out["treatment"].to_numpy(), out["retained"].to_numpy()
    strat = np.char.add(t.astype(str), y.astype(str))
    metrics: dict[str, float] = {}
    validation = None
    if min(np.unique(strat, return_counts=True)[1]) >= 2:
        idx_tr, idx_te = train_test_split(
            np.arange(len(out)), test_size=cfg.validation_share, random_state=cfg.seed, stratify=strat
        )
        m = fit_learner(spec, X.iloc[idx_tr], t[idx_tr], y[idx_tr], random_state=cfg.seed)
        u = m.predict_uplift(X.iloc[idx_te])
        validation = (y[idx_te], u, t[idx_te])
        metrics = {"qini_auc": qini_auc(*validation), "uplift_at_30": uplift_at_k(*validation, k=0.3)}
    model = fit_learner(spec, X, t, y, random_state=cfg.seed)
    return model, metrics, validation


def _train(
    wh: Warehouse, as_of: date | datetime, cfg: UpliftConfig
) -> tuple[UpliftModel | None, dict[str, Any], pd.DataFrame, Validation | None]:
    X, out = uplift_training_set(wh, as_of, cfg.horizon_days)
    n_t = int(out["treatment"].sum()) if len(out) else 0
    n_c = len(out) - n_t
    metrics: dict[str, Any] = {
        "rows": len(out),
        "treated": n_t,
        "holdout": n_c,
        "horizon_days": cfg.horizon_days,
    }
    if n_t < cfg.min_rows_per_arm or n_c < cfg.min_rows_per_arm:
        metrics["status"] = "not enough randomized outcomes yet"
        metrics["reason"] = (
            f"{n_t} treated and {n_c} held-out decisions with a matured {cfg.horizon_days}-day outcome; "
            f"{cfg.min_rows_per_arm} per arm are needed"
        )
        return None, metrics, pd.DataFrame(), None
    model, quality, validation = fit_and_validate(X, out, cfg)
    frame = X.assign(treatment=out["treatment"].to_numpy(), retained=out["retained"].to_numpy())
    return model, metrics | quality | {"status": "trained"}, frame, validation


def train_uplift(
    wh: Warehouse,
    as_of: date | datetime,
    horizon_days: int = 60,
    learner: str | None = None,
    seed: int = 42,
) -> tuple[UpliftModel | None, dict[str, Any]]:
    """Fit the uplift model on randomized decisions; returns ``(model or None, metrics)`` (nothing is logged).

    ``learner``: a name declared in candidates.yaml (default: the declared choice, see :func:`fit_and_validate`).
    Metrics (Qini, uplift@30%) come from a stratified 30% validation split; the returned model is refit on all
    rows. None when there are fewer than ``MIN_ROWS_PER_ARM`` rows in an arm.
    """
    declared = load_model_config().uplift
    cfg = replace(declared, learner=learner or declared.learner, horizon_days=horizon_days, seed=seed)
    model, metrics, _, _ = _train(wh, as_of, cfg)
    return model, metrics


def decide_uplift_promotion(metrics: dict[str, Any], floors: dict[str, float]) -> tuple[bool, str]:
    """Promote an uplift challenger when its validation metrics pass every floor (reason in words).

    The champion is not re-scored on this validation split: its training rows overlap it (one row per customer,
    first decision), so the comparison would favour it.
    """
    for name, floor in floors.items():
        v = metrics.get(name)
        if v is None:
            return False, f"no {name}: the validation split could not be stratified by arm and outcome"
        if not (v >= floor):
            return False, f"{name} {v:.4f} is below the floor {floor}"
    passed = ", ".join(f"{k} {metrics[k]:.4f} >= {f}" for k, f in floors.items())
    return True, f"validation {passed}; newest model on the most randomized outcomes"


def train_and_register_uplift(
    wh: Warehouse, settings: Settings, as_of: date | datetime, config: UpliftConfig | None = None
) -> dict[str, Any]:
    """Train the uplift model as of ``as_of``, log it to ``proactive-uplift``, register and gate it.

    Returns a summary; ``trained`` False with the ``reason`` when there are too few matured randomized outcomes.
    """
    cfg = config or load_model_config().uplift
    as_of_d = as_timestamp(as_of).date()
    model, metrics, frame, validation = _train(wh, as_of_d, cfg)
    summary: dict[str, Any] = {"target": UPLIFT, "trained": model is not None, "metrics": metrics}
    if model is None:
        return summary | {
            "reason": metrics["reason"],
            "champion_version": registry.champion_version(settings, UPLIFT),
        }
    meta = {"as_of": str(as_of_d)} | {k: v for k, v in asdict(cfg).items() if k not in ("floors", "learners")}
    meta["trained_learner"] = cfg.learner_for(metrics["rows"]).name  # the fallback on few rows
    logged = tracking.log_uplift_training(settings, model, frame, metrics, validation, meta)
    promote, reason = decide_uplift_promotion(metrics, cfg.floors)
    version = registry.register_challenger(settings, UPLIFT, logged["model_uri"], logged["run_id"], reason)
    if promote:
        registry.set_champion(settings, UPLIFT, version, reason)
    return summary | {
        "run_id": logged["run_id"],
        "model_name": registry.model_name(settings, UPLIFT),
        "version": version,
        "promoted": promote,
        "reason": reason,
        "champion_version": registry.champion_version(settings, UPLIFT),
    }


def load_uplift_champion(settings: Settings) -> tuple[UpliftModel, str] | None:
    """``models:/<prefix>-uplift@champion`` and its version; None when there is no champion (target by risk)."""
    version = registry.champion_version(settings, UPLIFT)
    if version is None:
        return None
    model = registry.load_sklearn_model(f"models:/{registry.model_name(settings, UPLIFT)}/{version}")
    return model, version


def score_uplift(wh: Warehouse, model: UpliftModel, as_of: date | datetime) -> pd.Series:
    """Incremental retention probability per active customer at ``as_of`` (for ``run_outreach(uplift=...)``)."""
    X = build_features(wh, as_of)
    if X.empty:
        return pd.Series(dtype=float, name="uplift")
    return predict_uplift(model, X)
