"""The candidates of ``models/candidates.yaml`` as scikit-learn estimators: build, fit, evaluate, choose one.

Pure: feature frames in, fitted estimators and holdout metrics out. The trainer and the Telco benchmark use the
same functions, so the benchmark measures what the trainer ships.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, VotingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from proactive_ml.errors import UserError
from proactive_ml.modeling.evaluate import evaluate_scores

IMPORTANCE_MAX_ROWS = 5000  # permutation importance on a seeded sample of a large holdout: cost stays bounded
SOFT_VOTING = "soft_voting"


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


class Log1pCompanions(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Each (imputed) number next to its ``log1p`` (negatives clipped to 0), for linear models.

    Counts, spend, tenure and charges are right-skewed; a linear model sees their diminishing effect through the
    log, while the raw value keeps its linear part. Declared per candidate (``log1p_companions: true``).
    """

    def fit(self, X: Any, y: Any = None) -> Log1pCompanions:
        """Remember the input width and names (nothing is learned)."""
        self.n_features_in_ = np.asarray(X).shape[1]
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """[X, log1p(max(X, 0))]."""
        arr = np.asarray(X, dtype=float)
        return np.hstack([arr, np.log1p(np.clip(arr, 0.0, None))])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The input names, then ``log1p_<name>`` for each."""
        names = (
            list(input_features)
            if input_features is not None
            else list(getattr(self, "feature_names_in_", [f"x{i}" for i in range(self.n_features_in_)]))
        )
        return np.asarray(names + [f"log1p_{n}" for n in names], dtype=object)


def _classifier(spec: dict[str, Any]) -> tuple[Any, bool]:
    """(unfitted classifier, whether its numbers are scaled) of a single candidate."""
    kind = spec["kind"]
    params = dict(spec.get("params") or {})
    if kind == "logistic_regression":
        return LogisticRegression(**params), True
    if kind == "hist_gradient_boosting":
        return HistGradientBoostingClassifier(**params), False
    if kind == "dummy":
        return DummyClassifier(**({"strategy": "prior"} | params)), False
    raise UserError(f"models/candidates.yaml: unknown candidate kind {kind!r} in {spec.get('name')!r}")


def build_pipeline(spec: dict[str, Any], numeric: list[str], categorical: list[str]) -> Any:
    """A scikit-learn estimator for one candidate: preprocessing -> classifier -> calibration.

    ``spec`` = {name, kind: logistic_regression | hist_gradient_boosting | dummy, params, calibration,
    log1p_companions}, or
    {name, kind: soft_voting, members: [specs]}: the mean of the members' calibrated probabilities (each member
    keeps its own preprocessing). Class imbalance is handled by the classifier's ``class_weight`` (set in params);
    calibration restores honest probabilities afterwards.
    """
    if spec["kind"] == SOFT_VOTING:
        members = [(m["name"], build_pipeline(m, numeric, categorical)) for m in spec["members"]]
        return VotingClassifier(members, voting="soft")
    clf, scaled = _classifier(spec)
    num_steps: list[tuple[str, Any]] = [
        ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True))
    ]
    if spec.get("log1p_companions"):
        num_steps.append(("log1p", Log1pCompanions()))
    if scaled:
        num_steps.append(("scale", StandardScaler()))
    transformers = [("num", Pipeline(num_steps), list(numeric))]
    if categorical:
        encoder = OneHotEncoder(handle_unknown="ignore", min_frequency=5, sparse_output=False)
        transformers.append(("cat", encoder, list(categorical)))
    prep = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=True)
    cal = spec.get("calibration") or {}
    model = (
        clf
        if spec["kind"] == "dummy" or not cal
        else CalibratedClassifierCV(
            clf, method=cal.get("method", "sigmoid"), cv=int(cal.get("cv", 3)), ensemble=False
        )
    )
    return Pipeline([("prep", prep), ("model", model)])


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney statistic (ties count half): equal to sklearn's, without its input checks."""
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(p)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _raw_importance(
    model: Any, X: pd.DataFrame, y: np.ndarray, rng: np.random.Generator, n_repeats: int
) -> pd.Series:
    """Permutation importance through the whole estimator (ensembles: no shared preprocessing to reuse)."""
    base = roc_auc(y, model.predict_proba(X)[:, 1])
    drops = {}
    for col in X.columns:
        scores = []
        for _ in range(n_repeats):
            probe = X.copy()
            probe[col] = X[col].to_numpy()[rng.permutation(len(X))]
            scores.append(base - roc_auc(y, model.predict_proba(probe)[:, 1]))
        drops[col] = float(np.mean(scores))
    return pd.Series(drops).sort_values(ascending=False)


def _pipeline_importance(
    model: Pipeline, X: pd.DataFrame, y: np.ndarray, rng: np.random.Generator, n_repeats: int
) -> pd.Series:
    """Permutation importance that transforms the holdout once and only re-runs the final estimator."""
    prep, est = model[:-1], model[-1]
    Xt = np.asarray(prep.transform(X), dtype=float)
    base = roc_auc(y, est.predict_proba(Xt)[:, 1])
    drops = {}
    for col in X.columns:
        probe = X.copy()
        probe[col] = X[col].to_numpy()[rng.permutation(len(X))]
        changed = ~np.all(
            np.isclose(np.asarray(prep.transform(probe), dtype=float), Xt, equal_nan=True), axis=0
        )
        cols = np.flatnonzero(changed)
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


def permutation_importance_series(
    model: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    seed: int = 0,
    n_repeats: int = 3,
    max_rows: int = IMPORTANCE_MAX_ROWS,
) -> pd.Series:
    """Holdout ROC-AUC drop when each feature is shuffled (model-agnostic, same for every candidate).

    For a Pipeline the preprocessing is row-wise, so shuffling a raw column equals shuffling, with the same row
    order, the output columns that come from it: the holdout is transformed once and only the final estimator
    predicts per shuffle. Which output columns come from a raw column is found by shuffling it once and seeing
    what changes. Other estimators (the soft-voting ensemble) predict on the shuffled raw frame.
    """
    if len(X) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(X), size=max_rows, replace=False))
        X, y = X.iloc[rows], y[rows]
    if len(np.unique(y)) < 2:
        return pd.Series(0.0, index=X.columns)
    rng = np.random.default_rng(seed)
    if isinstance(model, Pipeline) and len(model) > 1:
        return _pipeline_importance(model, X, y, rng, n_repeats)
    return _raw_importance(model, X, y, rng, n_repeats)


def fit_candidate(
    spec: dict[str, Any],
    train: tuple[pd.DataFrame, np.ndarray],
    holdout: tuple[pd.DataFrame, np.ndarray],
    columns: tuple[list[str], list[str]],
    importance: bool = True,
) -> CandidateResult:
    """Fit one candidate on ``train`` (X, y) and evaluate it on ``holdout`` (X, y).

    ``columns`` = (numeric, categorical). OpenMP is limited to one thread here: training sets are small and many
    short parallel regions are far slower than one thread on a busy 2-core machine (scoring keeps all threads).
    """
    (Xtr, ytr), (Xho, yho) = train, holdout
    if len(np.unique(ytr)) < 2:
        raise UserError(
            f"training data has only one class ({int(ytr[0]) if len(ytr) else 'none'}): cannot train"
        )
    model = build_pipeline(spec, *columns)
    with threadpool_limits(limits=1, user_api="openmp"):
        t0 = time.perf_counter()
        model.fit(Xtr, ytr)
        fit_s = time.perf_counter() - t0
        p = model.predict_proba(Xho)[:, 1]
        imp = permutation_importance_series(model, Xho, yho) if importance else pd.Series(dtype=float)
    metrics = evaluate_scores(yho, p) | {"fit_seconds": fit_s}
    return CandidateResult(spec["name"], spec, model, metrics, imp, p, fit_s)


def select_best(results: list[CandidateResult], metric: str = "pr_auc") -> CandidateResult:
    """The candidate with the highest holdout ``metric`` (ties and NaN: ROC-AUC, then declared order)."""

    def key(r: CandidateResult) -> tuple[float, float]:
        m = r.metrics.get(metric, float("nan"))
        a = r.metrics.get("roc_auc", float("nan"))
        return (-np.inf if np.isnan(m) else m, -np.inf if np.isnan(a) else a)

    return max(results, key=key)
