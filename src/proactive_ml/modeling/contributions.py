"""Each feature's exact contribution to a fitted model's own log-odds, as cheaply as the model allows.

One definition (see ``reasons.py``): for a customer ``x`` and an original feature ``f``,

    contribution_f(x) = logit(model(x)) - logit(model(x with f set to its reference value)).

Three ways to compute it, chosen per model, all equal to that definition:

1. **ablation** (any estimator): one batch prediction per feature on the raw rows.
2. **transformed ablation**: the model is a ``Pipeline`` whose preprocessing works column by column (each output
   column comes from one input column: imputation, missing indicators, ``log1p`` companions, scaling, one-hot; see
   :func:`column_origins`). Then ``T(x with f at r)`` is ``T(x)`` with ``f``'s output columns replaced by those
   of ``T(reference row)``: the rows are transformed once (scoring already did it) and only the final estimator
   predicts once per feature.
3. **linear**: additionally, the final estimator's log-odds are affine in ``T(x)`` (logistic regression, alone or
   with sigmoid calibration: :func:`affine_logit`). Then ``logit(model(x with f at r)) = L - w . (T(x) - T(r))``
   over ``f``'s columns, so every contribution comes from one matrix product. Log-odds are clipped as the
   ablation's are (probabilities kept within [1e-12, 1 - 1e-12]).

Any preprocessing or estimator not recognised here takes the ablation: an unknown step can never give a wrong
reason, only a slower one. ``tests/modeling/test_contributions.py`` checks the three ways agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from proactive_ml.modeling.candidates import Log1pCompanions

CHUNK_ROWS = 60_000  # rows per batch prediction (customers x features): bounded memory
P_CLIP = 1e-12


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) with ``p`` kept within [1e-12, 1 - 1e-12]."""
    p = np.clip(np.asarray(p, dtype=float), P_CLIP, 1 - P_CLIP)
    return np.log(p / (1 - p))


_LOGIT_LOW, _LOGIT_HIGH = (float(v) for v in logit(np.array([0.0, 1.0])))


# ---------------------------------------------------------------------------------------------- model anatomy
def _onehot_origins(enc: OneHotEncoder) -> np.ndarray | None:
    """Input column of each one-hot output column (None with ``drop``, where the count is less plain)."""
    if getattr(enc, "drop_idx_", None) is not None:
        return None
    infrequent = getattr(enc, "infrequent_categories_", None) or [None] * len(enc.categories_)
    sizes = [
        len(cats) - (len(inf) - 1 if inf is not None else 0)
        for cats, inf in zip(enc.categories_, infrequent, strict=True)
    ]
    if sum(sizes) != len(enc.get_feature_names_out()):
        return None
    return np.repeat(np.arange(len(sizes)), sizes)


def _imputer_origins(imp: SimpleImputer, n_in: int) -> np.ndarray | None:
    """Imputed columns (all kept) then one missing indicator per feature that had missing values when fitted."""
    if not imp.keep_empty_features and bool(pd.isna(imp.statistics_).any()):
        return None
    indicators = imp.indicator_.features_ if imp.add_indicator else np.array([], dtype=int)
    return np.concatenate([np.arange(n_in), np.asarray(indicators, dtype=int)])


def _transformer_origins(ct: ColumnTransformer, n_in: int) -> np.ndarray | None:
    """Input column of each output column of a fitted ColumnTransformer (None: a part is not column-wise)."""
    names = list(getattr(ct, "feature_names_in_", []))
    out = np.full(sum(s.stop - s.start for s in ct.output_indices_.values()), -1)
    for name, trans, cols in ct.transformers_:
        sl = ct.output_indices_.get(name, slice(0, 0))
        if trans == "drop" or sl.stop == sl.start:
            continue
        picked = list(cols) if isinstance(cols, list | tuple | np.ndarray) else None
        if picked is None or not all(isinstance(c, str | int | np.integer) for c in picked):
            return None
        pos = np.array([names.index(c) if isinstance(c, str) else int(c) for c in picked], dtype=int)
        sub = np.arange(len(pos)) if trans == "passthrough" else column_origins(trans, len(pos))
        if sub is None or len(sub) != sl.stop - sl.start:
            return None
        out[sl] = pos[sub]
    return out if (out >= 0).all() and n_in == len(names) else None


def column_origins(est: Any, n_in: int) -> np.ndarray | None:
    """For a fitted column-wise transformer: the input column each output column comes from, else None.

    Column-wise means output column ``j`` depends on input column ``origins[j]`` only (so setting one input
    column to another value changes only its own output columns, to what that value alone transforms to).
    Known: ColumnTransformer, Pipeline of known steps, SimpleImputer (+ indicators), StandardScaler,
    Log1pCompanions, OneHotEncoder.
    """
    if isinstance(est, Pipeline):
        origins: np.ndarray | None = np.arange(n_in)
        for _, step in est.steps:
            if origins is None:
                return None
            if step is None or step == "passthrough":
                continue
            sub = column_origins(step, len(origins))
            origins = None if sub is None else origins[sub]
        return origins
    if isinstance(est, ColumnTransformer):
        return _transformer_origins(est, n_in)
    if isinstance(est, SimpleImputer):
        return _imputer_origins(est, n_in)
    if isinstance(est, StandardScaler):
        return np.arange(n_in)
    if isinstance(est, Log1pCompanions):
        return np.tile(np.arange(n_in), 2)
    if isinstance(est, OneHotEncoder):
        return _onehot_origins(est)
    return None


def affine_logit(est: Any) -> tuple[np.ndarray, float] | None:
    """(w, c) with ``logit(est.predict_proba(T)[:, 1]) == T @ w + c`` when the estimator is that simple, else None.

    Binary logistic regression (``expit`` of its decision function), alone or inside a single sigmoid calibrator
    (``expit(-(a * decision + b))``, ``ensemble=False``).
    """
    if isinstance(est, LogisticRegression) and len(est.classes_) == 2:
        return np.asarray(est.coef_, dtype=float).ravel(), float(np.ravel(est.intercept_)[0])
    if isinstance(est, CalibratedClassifierCV) and len(est.calibrated_classifiers_) == 1:
        cal = est.calibrated_classifiers_[0]
        inner = affine_logit(cal.estimator)
        if cal.method != "sigmoid" or len(cal.calibrators) != 1 or inner is None:
            return None
        a, b = float(cal.calibrators[0].a_), float(cal.calibrators[0].b_)
        return -a * inner[0], -(a * inner[1] + b)
    return None


def model_columns(model: Any, X: pd.DataFrame) -> list[str]:
    """The columns the model was fitted on (all of ``X`` when it does not say)."""
    return list(getattr(model, "feature_names_in_", X.columns))


def _column_wise_prep(model: Any, n_in: int) -> tuple[Any, Any, np.ndarray] | None:
    """(preprocessing, final estimator, output-column origins) of a Pipeline with column-wise preprocessing."""
    if not isinstance(model, Pipeline) or len(model) < 2:
        return None
    prep = model[:-1]
    origins = column_origins(prep, n_in)
    return None if origins is None else (prep, model[-1], origins)


def probabilities(model: Any, X: pd.DataFrame) -> tuple[np.ndarray, Any]:
    """(P(class 1), the rows as the final estimator saw them, or None) for the model's columns of ``X``.

    For a Pipeline this is exactly ``predict_proba`` (preprocessing, then the final estimator), keeping the
    preprocessed rows so that reasons need not transform them again.
    """
    Xm = X[model_columns(model, X)]
    if len(Xm) == 0:
        return np.array([], dtype=float), None
    if isinstance(model, Pipeline) and len(model) > 1:
        Xt = model[:-1].transform(Xm)
        return np.asarray(model[-1].predict_proba(Xt)[:, 1], dtype=float), Xt
    return np.asarray(model.predict_proba(Xm)[:, 1], dtype=float), None


# ---------------------------------------------------------------------------------------------- the three ways
def _with_reference(
    frame: pd.DataFrame, reference: Mapping[str, Any], feats: list[str]
) -> list[pd.DataFrame]:
    """One copy of ``frame`` per feature with that feature set to its reference (None: missing)."""
    probes = []
    for f in feats:
        probe = frame.copy()
        _set_reference(probe, f, reference.get(f))
        probes.append(probe)
    return probes


def _set_reference(frame: pd.DataFrame, f: str, ref: Any) -> None:
    """Put column ``f`` of ``frame`` at ``ref``; ``None`` is a missing value of the column's own kind.

    A category stays a category: as a float NaN, scikit-learn's encoder takes the column for numbers and fails
    against its text categories (a company without tickets has no ticket priority on any row, so its reference
    is missing).
    """
    if ref is not None:
        frame[f] = ref
    elif pd.api.types.is_numeric_dtype(frame[f].dtype):
        frame[f] = np.nan
    else:
        frame[f] = pd.Series(None, index=frame.index, dtype=object)


def ablation(model: Any, reference: Mapping[str, Any], feats: list[str], Xm: pd.DataFrame) -> np.ndarray:
    """Contributions by one batch prediction per feature on the raw rows ``Xm`` (any model)."""
    out = np.zeros((len(Xm), len(feats)))
    step = max(1, CHUNK_ROWS // (len(feats) + 1))
    for start in range(0, len(Xm), step):
        chunk = Xm.iloc[start : start + step]
        blocks = [chunk, *_with_reference(chunk, reference, feats)]
        logits = logit(model.predict_proba(pd.concat(blocks, ignore_index=True))[:, 1])
        logits = logits.reshape(len(feats) + 1, len(chunk))
        out[start : start + len(chunk)] = (logits[0] - logits[1:]).T
    return out


def _transformed_ablation(
    final: Any, Xt: np.ndarray, ref_t: np.ndarray, groups: list[np.ndarray]
) -> np.ndarray:
    """Contributions by one prediction of the final estimator per feature on the preprocessed rows ``Xt``."""
    out = np.zeros((len(Xt), len(groups)))
    step = max(1, CHUNK_ROWS // (len(groups) + 1))
    for start in range(0, len(Xt), step):
        chunk = Xt[start : start + step]
        blocks = [chunk]
        for g in groups:
            probe = chunk.copy()
            probe[:, g] = ref_t[g]
            blocks.append(probe)
        logits = logit(final.predict_proba(np.vstack(blocks))[:, 1]).reshape(len(groups) + 1, len(chunk))
        out[start : start + len(chunk)] = (logits[0] - logits[1:]).T
    return out


def _linear(
    affine: tuple[np.ndarray, float], Xt: np.ndarray, ref_t: np.ndarray, groups: list[np.ndarray]
) -> np.ndarray:
    """Contributions of a model whose log-odds are ``Xt @ w + c``: clip(L) - clip(L - w_f . (x_f - r_f))."""
    w, c = affine
    member = np.zeros((len(w), len(groups)))
    for j, g in enumerate(groups):
        member[g, j] = w[g]
    out = np.zeros((len(Xt), len(groups)))
    for start in range(0, len(Xt), CHUNK_ROWS):
        chunk = np.asarray(Xt[start : start + CHUNK_ROWS], dtype=float)
        full = chunk @ w + c
        moved = (chunk - ref_t) @ member  # each feature's part of the log-odds, relative to its reference
        low, high = _LOGIT_LOW, _LOGIT_HIGH
        out[start : start + len(chunk)] = np.clip(full, low, high)[:, None] - np.clip(
            full[:, None] - moved, low, high
        )
    return out


def _reference_row(Xm: pd.DataFrame, reference: Mapping[str, Any], feats: list[str]) -> pd.DataFrame:
    """One row of ``Xm`` with every feature of ``feats`` at its reference (the others' columns are never used)."""
    row = Xm.iloc[:1].copy()
    for f in feats:
        _set_reference(row, f, reference.get(f))
    return row


def _without_ablation(
    model: Any, feats: list[str], reference: Mapping[str, Any], Xm: pd.DataFrame, transformed: Any
) -> np.ndarray | None:
    """Contributions the linear or transformed way when the model allows it (None: it does not)."""
    cols = list(Xm.columns)
    anatomy = _column_wise_prep(model, len(cols))
    if anatomy is None:
        return None
    prep, final, origins = anatomy
    Xt = prep.transform(Xm) if transformed is None else transformed
    ref_t = prep.transform(_reference_row(Xm, reference, feats))
    if not (isinstance(Xt, np.ndarray) and isinstance(ref_t, np.ndarray)):
        return None  # sparse or frame output: the ablation handles it
    if Xt.shape != (len(Xm), len(origins)) or ref_t.shape != (1, len(origins)):
        return None
    groups = [np.flatnonzero(origins == cols.index(f)) for f in feats]
    affine = affine_logit(final)
    if affine is not None:
        return _linear(affine, Xt, ref_t[0], groups)
    return _transformed_ablation(final, Xt, ref_t[0], groups)


def feature_contributions(
    model: Any, feats: list[str], reference: Mapping[str, Any], X: pd.DataFrame, transformed: Any = None
) -> pd.DataFrame:
    """Per row of ``X`` and feature of ``feats`` (those the model uses): the exact contribution defined above.

    ``transformed``: the model's preprocessed ``X`` when the caller already has it (:func:`probabilities`).
    """
    cols = model_columns(model, X)
    feats = [f for f in feats if f in cols]
    if not feats or X.empty:
        return pd.DataFrame(np.zeros((len(X), len(feats))), index=X.index, columns=feats)
    Xm = X[cols]
    values = _without_ablation(model, feats, reference, Xm, transformed)
    if values is None:
        values = ablation(model, reference, feats, Xm)
    return pd.DataFrame(values, index=X.index, columns=feats)
