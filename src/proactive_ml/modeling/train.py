"""Training: historical cutoffs, a time-based split, the candidates of ``models/candidates.yaml``, and the job
:func:`train_and_register` that reads top to bottom (data -> fit -> evaluate -> log -> register -> gate).

Everything above :func:`train_and_register` is pure (data frames in, fitted pipelines and metrics out); MLflow is
touched only through :mod:`proactive_ml.modeling.registry`.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from proactive_ml.errors import UserError
from proactive_ml.settings import PROJECT_ROOT

CANDIDATES_YAML = PROJECT_ROOT / "models" / "candidates.yaml"
LABEL = "label"
CUTOFF = "cutoff"


# ---------------------------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class TrainingConfig:
    """How the training set is cut out of history (see ``training:`` in candidates.yaml)."""

    horizon_days: int = 30
    n_train_cutoffs: int = 8
    cutoff_step_days: int = 7
    purge_gap: bool = True
    min_history_days: int = 30
    exclude_treated: bool = True
    selection_metric: str = "pr_auc"


@dataclass(frozen=True)
class Gates:
    """Promotion rule: beat the champion by ``min_improvement`` on ``metric`` and pass every floor."""

    metric: str = "roc_auc"
    min_improvement: float = 0.005
    floors: dict[str, float] = field(default_factory=lambda: {"roc_auc": 0.6})


@dataclass(frozen=True)
class ModelConfig:
    """The whole of candidates.yaml."""

    candidates: tuple[dict[str, Any], ...]
    training: TrainingConfig
    gates: Gates


def load_model_config(path: str | Path = CANDIDATES_YAML) -> ModelConfig:
    """Parse ``models/candidates.yaml``."""
    import yaml

    raw = yaml.safe_load(Path(path).read_text())
    return ModelConfig(
        candidates=tuple(raw["candidates"]),
        training=TrainingConfig(**raw.get("training", {})),
        gates=Gates(**raw.get("gates", {})),
    )


# ---------------------------------------------------------------------------------------------- pipelines
def build_pipeline(spec: dict[str, Any], numeric: list[str], categorical: list[str]) -> Any:
    """A scikit-learn Pipeline for one candidate: preprocessing -> classifier -> calibration.

    ``spec`` = {name, kind: logistic_regression | hist_gradient_boosting | dummy, params, calibration}.
    Class imbalance is handled by the classifier's ``class_weight`` (set in params); calibration restores
    honest probabilities afterwards.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import ColumnTransformer
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    kind = spec["kind"]
    params = dict(spec.get("params") or {})
    num_steps: list[tuple[str, Any]] = [
        ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True))
    ]
    if kind == "logistic_regression":
        num_steps.append(("scale", StandardScaler()))
        clf: Any = LogisticRegression(**params)
    elif kind == "hist_gradient_boosting":
        clf = HistGradientBoostingClassifier(**params)
    elif kind == "dummy":
        clf = DummyClassifier(**({"strategy": "prior"} | params))
    else:
        raise UserError(f"models/candidates.yaml: unknown candidate kind {kind!r} in {spec.get('name')!r}")
    transformers = [("num", Pipeline(num_steps), list(numeric))]
    if categorical:
        transformers.append(
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore", min_frequency=5, sparse_output=False),
                list(categorical),
            )
        )
    prep = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=True)
    cal = spec.get("calibration") or {}
    model = (
        clf
        if kind == "dummy" or not cal
        else CalibratedClassifierCV(
            clf, method=cal.get("method", "sigmoid"), cv=int(cal.get("cv", 3)), ensemble=False
        )
    )
    return Pipeline([("prep", prep), ("model", model)])


# ---------------------------------------------------------------------------------------------- data
def training_cutoffs(
    as_of: date, cfg: TrainingConfig, data_start: date | None = None
) -> tuple[list[date], date]:
    """(train cutoffs oldest first, holdout cutoff).

    The holdout is the latest cutoff whose label window ends by ``as_of``: ``as_of - horizon``. With
    ``purge_gap`` the training cutoffs' label windows end before the holdout cutoff, so no outcome seen in
    training happens inside the holdout window.
    """
    h = cfg.horizon_days
    holdout = as_of - timedelta(days=h)
    last_train = holdout - timedelta(days=h if cfg.purge_gap else cfg.cutoff_step_days)
    cuts = [last_train - timedelta(days=cfg.cutoff_step_days * k) for k in range(cfg.n_train_cutoffs)]
    if data_start is not None:
        earliest = data_start + timedelta(days=cfg.min_history_days)
        cuts = [c for c in cuts if c >= earliest]
        if holdout < earliest:
            raise UserError(
                f"not enough history to train as of {as_of}: data starts {data_start}, the holdout cutoff {holdout} "
                f"needs {cfg.min_history_days} days of history and {h} days of outcomes"
            )
    if not cuts:
        raise UserError(
            f"not enough history to train as of {as_of}: no training cutoff before the holdout {holdout} "
            f"with {cfg.min_history_days} days of history (data starts {data_start})"
        )
    return sorted(cuts), holdout


def data_start(wh: Any) -> date | None:
    """The first day of usage data (None when there is none)."""
    v = wh.scalar("SELECT MIN(ts) FROM usage_events")
    if v is None:
        return None
    return pd.Timestamp(v).date()


def build_dataset(
    wh: Any, cutoffs: list[date], target: str, horizon_days: int = 30, exclude_treated: bool = True
) -> pd.DataFrame:
    """Features + ``label`` + ``cutoff`` for every active customer at each cutoff (index: customer_id).

    With ``exclude_treated`` customers contacted around a cutoff (decisions arm='treatment') are left out of
    that cutoff: their outcome was changed by us, so it is not a natural label. ``df.attrs['n_excluded_treated']``
    counts them.
    """
    from proactive_ml.features.labels import TARGETS, build_labels, treated_customers
    from proactive_ml.features.point_in_time import build_features

    if target not in TARGETS:
        raise UserError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
    parts = []
    excluded = 0
    for c in cutoffs:
        X = build_features(wh, c)
        y = build_labels(wh, c, horizon_days)[target]
        part = X.join(y.rename(LABEL), how="inner")
        if exclude_treated:
            treated = treated_customers(wh, c, horizon_days)
            if treated:
                keep = ~part.index.isin(list(treated))
                excluded += int((~keep).sum())
                part = part[keep]
        part[CUTOFF] = c
        parts.append(part)
    df = pd.concat(parts) if parts else pd.DataFrame()
    df.attrs["n_excluded_treated"] = excluded
    return df


def split_xy(df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Feature columns (declared order) and the 0/1 label."""
    from proactive_ml.features.point_in_time import feature_names

    return df[feature_names()], df[LABEL].to_numpy(dtype=int)


def snapshot_hash(df: pd.DataFrame) -> str:
    """A stable content hash of a data frame (values and index), used as the MLflow dataset digest."""
    h = hashlib.sha256()
    h.update(",".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------- fitting
@dataclass
class CandidateResult:
    """One fitted candidate with its holdout evaluation."""

    name: str
    spec: dict[str, Any]
    model: Any
    metrics: dict[str, float]
    importance: pd.Series
    holdout_proba: np.ndarray
    fit_seconds: float


IMPORTANCE_MAX_ROWS = 5000  # permutation importance on a seeded sample of a large holdout: cost stays bounded


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney statistic (ties count half): equal to sklearn's, without its input checks."""
    from scipy.stats import rankdata

    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(p)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def permutation_importance_series(
    model: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    seed: int = 0,
    n_repeats: int = 3,
    max_rows: int = IMPORTANCE_MAX_ROWS,
) -> pd.Series:
    """Holdout ROC-AUC drop when each feature is shuffled (model-agnostic, same for every candidate).

    The preprocessing is row-wise, so shuffling a raw column equals shuffling, with the same row order, the output
    columns that come from it: the holdout is transformed once and only the final estimator predicts per shuffle.
    Which output columns come from a raw column is found by shuffling it once and seeing what changes.
    """
    if len(X) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(X), size=max_rows, replace=False))
        X, y = X.iloc[rows], y[rows]
    if len(np.unique(y)) < 2:
        return pd.Series(0.0, index=X.columns)
    prep, est = model[:-1], model[-1]
    Xt = np.asarray(prep.transform(X), dtype=float)
    rng = np.random.default_rng(seed)
    base = roc_auc(y, est.predict_proba(Xt)[:, 1])
    drops = {}
    for col in X.columns:
        probe = X.copy()
        probe[col] = X[col].to_numpy()[rng.permutation(len(X))]
        cols = np.flatnonzero(
            ~np.all(np.isclose(np.asarray(prep.transform(probe), dtype=float), Xt, equal_nan=True), axis=0)
        )
        if len(cols) == 0:  # a constant column: shuffling it changes nothing
            drops[col] = 0.0
            continue
        scores = []
        for _ in range(n_repeats):
            shuffled = Xt.copy()
            shuffled[:, cols] = Xt[rng.permutation(len(Xt))][:, cols]
            scores.append(base - roc_auc(y, est.predict_proba(shuffled)[:, 1]))
        drops[col] = float(np.mean(scores))
    return pd.Series(drops).sort_values(ascending=False)


def fit_candidate(spec: dict[str, Any], train: pd.DataFrame, holdout: pd.DataFrame) -> CandidateResult:
    """Fit one candidate on ``train`` and evaluate it on ``holdout``.

    OpenMP is limited to one thread here: training sets are small and many short parallel regions are far slower
    than one thread on a busy 2-core machine (scoring large batches keeps all threads).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        return _fit_candidate(spec, train, holdout)


def _fit_candidate(spec: dict[str, Any], train: pd.DataFrame, holdout: pd.DataFrame) -> CandidateResult:
    from proactive_ml.features.point_in_time import categorical_features, numeric_features
    from proactive_ml.modeling.evaluate import evaluate_scores

    Xtr, ytr = split_xy(train)
    Xho, yho = split_xy(holdout)
    if len(np.unique(ytr)) < 2:
        raise UserError(
            f"training data has only one class ({int(ytr[0]) if len(ytr) else 'none'}): cannot train"
        )
    model = build_pipeline(spec, numeric_features(), categorical_features())
    t0 = time.perf_counter()
    model.fit(Xtr, ytr)
    fit_s = time.perf_counter() - t0
    p = model.predict_proba(Xho)[:, 1]
    metrics = evaluate_scores(yho, p)
    metrics["fit_seconds"] = fit_s
    imp = permutation_importance_series(model, Xho, yho)
    return CandidateResult(spec["name"], spec, model, metrics, imp, p, fit_s)


def select_best(results: list[CandidateResult], metric: str = "pr_auc") -> CandidateResult:
    """The candidate with the highest holdout ``metric`` (ties and NaN: ROC-AUC, then declared order)."""

    def key(r: CandidateResult) -> tuple[float, float]:
        m = r.metrics.get(metric, float("nan"))
        a = r.metrics.get("roc_auc", float("nan"))
        return (-np.inf if np.isnan(m) else m, -np.inf if np.isnan(a) else a)

    return max(results, key=key)


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


# ---------------------------------------------------------------------------------------------- the job
def train_and_register(
    wh: Any,
    settings: Any,
    as_of: date | datetime,
    target: str = "churn",
    candidates: list[dict[str, Any]] | None = None,
    config_path: str | Path = CANDIDATES_YAML,
    exclude_treated: bool | None = None,
    training: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train every candidate for ``target`` on history before ``as_of``, log to MLflow, register the best as
    ``challenger`` and promote it to ``champion`` if it passes the gates.

    ``candidates`` overrides the declared ones (tests force a worse challenger this way); ``training`` overrides
    keys of the declared ``training:`` block (e.g. a short-history profile for the demo). Returns a summary:
    target, model_name, parent_run_id, child_run_ids, best, metrics (per candidate), version, promoted, reason,
    champion_version, holdout_cutoff, train_cutoffs.
    """
    from proactive_ml.modeling import registry
    from proactive_ml.modeling.reasons import fit_explainer

    as_of_d = as_of.date() if isinstance(as_of, datetime) else as_of
    cfg = load_model_config(config_path)
    tcfg = replace(cfg.training, **(training or {}))
    excl = tcfg.exclude_treated if exclude_treated is None else exclude_treated
    specs = list(candidates) if candidates is not None else list(cfg.candidates)

    train_cuts, holdout_cut = training_cutoffs(as_of_d, tcfg, data_start(wh))
    train = build_dataset(wh, train_cuts, target, tcfg.horizon_days, excl)
    holdout = build_dataset(wh, [holdout_cut], target, tcfg.horizon_days, excl)
    if holdout.empty or train.empty:
        raise UserError(f"no active customers to train on as of {as_of_d}")

    results = [fit_candidate(s, train, holdout) for s in specs]
    best = select_best(results, tcfg.selection_metric)
    Xtr, _ = split_xy(train)
    explainer = fit_explainer(Xtr, best.model.predict_proba(Xtr)[:, 1])

    meta = {
        "target": target,
        "as_of": str(as_of_d),
        "horizon_days": tcfg.horizon_days,
        "train_cutoffs": [str(c) for c in train_cuts],
        "holdout_cutoff": str(holdout_cut),
        "exclude_treated": excl,
        "n_excluded_treated": train.attrs.get("n_excluded_treated", 0)
        + holdout.attrs.get("n_excluded_treated", 0),
        "selection_metric": tcfg.selection_metric,
    }
    logged = registry.log_training(settings, target, results, best, train, holdout, explainer, meta)

    Xho, yho = split_xy(holdout)
    champion = registry.evaluate_champion(settings, target, Xho, yho)
    promote, reason = decide_promotion(best.metrics, champion["metrics"] if champion else None, cfg.gates)
    version = registry.register_challenger(
        settings, target, logged["model_uri"], logged["best_run_id"], reason
    )
    if promote:
        registry.set_champion(settings, target, version, reason)
    champ_now = registry.champion_version(settings, target)
    return {
        "target": target,
        "model_name": registry.model_name(settings, target),
        "experiment": registry.experiment_name(target),
        "parent_run_id": logged["parent_run_id"],
        "child_run_ids": logged["child_run_ids"],
        "best": best.name,
        "metrics": {r.name: r.metrics for r in results},
        "version": version,
        "promoted": promote,
        "reason": reason,
        "previous_champion_version": champion["version"] if champion else None,
        "champion_version": champ_now,
        "holdout_cutoff": str(holdout_cut),
        "train_cutoffs": [str(c) for c in train_cuts],
        "n_train_rows": len(train),
        "n_holdout_rows": len(holdout),
    }
