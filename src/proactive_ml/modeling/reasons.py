"""Why a customer scored high, in words: a linear surrogate of the model's log-odds, read feature by feature.

At training time :func:`fit_explainer` fits a ridge regression of the champion's log-odds on standardised features
(numeric: median-centred, scaled by the standard deviation, missing = typical; categorical: one-hot relative to the
most common value). At scoring time each feature's contribution is ``coef * standardised value``: a few vectorised
array operations, fast for a million customers (no sampling explainer). The three largest positive contributions
whose declared condition holds become the reasons, worded by the ``reason`` templates of ``models/features.yaml``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge

from proactive_ml.features.point_in_time import FeatureSpec, load_feature_specs


@dataclass
class Explainer:
    """A linear surrogate of a model's log-odds, serialisable to JSON (logged next to the model)."""

    numeric: list[str]
    categorical: list[str]
    center: dict[str, float]
    scale: dict[str, float]
    coef: dict[str, float]
    cat_coef: dict[str, dict[str, float]]
    intercept: float
    r2: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Explainer:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def fit_explainer(X: pd.DataFrame, proba: np.ndarray, alpha: float = 1.0) -> Explainer:
    """Fit the surrogate on features ``X`` and the model's probabilities ``proba`` for the same rows."""
    specs = {s.name: s for s in load_feature_specs()}
    numeric = [c for c in X.columns if specs.get(c) is None or specs[c].kind == "numeric"]
    categorical = [c for c in X.columns if c not in numeric]
    center = {c: float(np.nan_to_num(X[c].median(), nan=0.0)) for c in numeric}
    scale = {}
    for c in numeric:
        s = float(X[c].std())
        scale[c] = s if np.isfinite(s) and s > 1e-9 else 1.0
    Z = (
        np.column_stack([_std(X[c].to_numpy(dtype=float), center[c], scale[c]) for c in numeric])
        if numeric
        else (np.empty((len(X), 0)))
    )
    cat_levels: dict[str, list[str]] = {}
    blocks = [Z]
    for c in categorical:
        vals = X[c].astype(str)
        levels = [str(v) for v in vals.value_counts().index]
        cat_levels[c] = levels
        blocks.append(
            np.column_stack([(vals == lv).to_numpy(dtype=float) for lv in levels[1:]])
            if len(levels) > 1
            else np.empty((len(X), 0))
        )
    M = np.hstack(blocks)
    t = _logit(proba)
    reg = Ridge(alpha=alpha).fit(M, t)
    r2 = float(reg.score(M, t)) if len(t) > 1 else 0.0
    coef = {c: float(reg.coef_[i]) for i, c in enumerate(numeric)}
    cat_coef: dict[str, dict[str, float]] = {}
    j = len(numeric)
    for c in categorical:
        levels = cat_levels[c]
        cat_coef[c] = {levels[0]: 0.0} if levels else {}
        for lv in levels[1:]:
            cat_coef[c][lv] = float(reg.coef_[j])
            j += 1
    return Explainer(numeric, categorical, center, scale, coef, cat_coef, float(reg.intercept_), r2)


def _std(x: np.ndarray, center: float, scale: float) -> np.ndarray:
    z = (x - center) / scale
    return np.where(np.isnan(z), 0.0, z)


def contributions(explainer: Explainer, X: pd.DataFrame) -> pd.DataFrame:
    """Per-customer, per-feature contribution to the log-odds relative to a typical customer."""
    cols: dict[str, np.ndarray] = {}
    for c in explainer.numeric:
        cols[c] = explainer.coef[c] * _std(
            X[c].to_numpy(dtype=float), explainer.center[c], explainer.scale[c]
        )
    for c in explainer.categorical:
        mapping = explainer.cat_coef.get(c, {})
        cols[c] = X[c].astype(str).map(mapping).fillna(0.0).to_numpy(dtype=float)
    return pd.DataFrame(cols, index=X.index)


def _condition(spec: FeatureSpec, values: pd.Series, center: float | None = None) -> np.ndarray:
    """Where the feature's declared ``when`` and ``direction`` (vs the typical value ``center``) hold."""
    ok_dir = np.ones(len(values), dtype=bool)
    if spec.direction and center is not None and spec.kind == "numeric":
        v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            ok_dir = (v < center) if spec.direction == "low" else (v > center)
    if spec.when is None:
        return ok_dir
    op, thr = spec.when[0], spec.when[1]
    if op == "in":
        return ok_dir & values.astype(str).isin([str(v) for v in thr]).to_numpy()
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        ok = {"<": v < thr, "<=": v <= thr, ">": v > thr, ">=": v >= thr, "==": v == thr}[op]
    return ok_dir & ok & ~np.isnan(v)


def when_words(days: np.ndarray) -> np.ndarray:
    """'today', 'yesterday', 'last week', 'N weeks ago', 'N months ago' for day counts (vectorised)."""
    d = np.asarray(days, dtype=float)
    safe = np.nan_to_num(d, nan=0.0)
    weeks = np.maximum(np.round(safe / 7), 2).astype(int)
    months = np.maximum(np.round(safe / 30), 2).astype(int)
    out = np.where(d < 1, "today", np.where(d < 2, "yesterday", np.where(d <= 10, "last week", "")))
    out = np.where((out == "") & (d < 45), np.char.add(weeks.astype(str), " weeks ago"), out)
    out = np.where((out == "") & (d >= 45), np.char.add(months.astype(str), " months ago"), out)
    return np.where(np.isnan(d), "", out)


def _format(spec: FeatureSpec, values: np.ndarray, nps_days: np.ndarray | None = None) -> np.ndarray:
    """Reason text for the customers that get this reason (``values``: their feature values).

    Only unique inputs are formatted (values are rounded to the template's precision first), then mapped back.
    """
    tmpl = spec.reason
    digits = 0 if ":.0f}" in tmpl else 2
    fields = pd.DataFrame(index=pd.RangeIndex(len(values)))
    if spec.kind == "categorical":
        fields["value"] = pd.Series(values, dtype=object).astype(str).to_numpy(dtype=object)
    else:
        num = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)
        fields["value"] = np.round(num, digits)
        if "{abs_value" in tmpl:
            fields["abs_value"] = np.round(np.abs(num), digits)
        if "{pct_down" in tmpl:
            fields["pct_down"] = np.round(-num * 100, 0)
    if "{nps_when}" in tmpl:
        days = nps_days if nps_days is not None else np.full(len(values), np.nan)
        fields["nps_when"] = when_words(days)
    factors = [pd.factorize(fields[c].to_numpy()) for c in fields.columns]
    dims = tuple(max(len(u), 1) for _, u in factors)
    combined = np.ravel_multi_index(tuple(np.maximum(c, 0) for c, _ in factors), dims)
    uniq, codes = np.unique(combined, return_inverse=True)
    parts = np.unravel_index(uniq, dims)
    recs = [
        {col: factors[i][1][parts[i][k]] for i, col in enumerate(fields.columns)} for k in range(len(uniq))
    ]
    texts = np.array([tmpl.format(**r).strip() for r in recs], dtype=object)
    return texts[codes]


def top_reasons(explainer: Explainer, X: pd.DataFrame, k: int = 3) -> pd.DataFrame:
    """The ``k`` strongest reasons (readable text) per customer, columns ``reason_1..k`` (None when fewer)."""
    specs = [s for s in load_feature_specs() if s.name in X.columns]
    contrib = np.array(contributions(explainer, X)[[s.name for s in specs]].to_numpy(dtype=float), copy=True)
    for j, s in enumerate(specs):
        contrib[:, j] = np.where(
            _condition(s, X[s.name], explainer.center.get(s.name)) & (contrib[:, j] > 1e-9),
            contrib[:, j],
            -np.inf,
        )
    n = len(X)
    kk = min(k, contrib.shape[1])
    if kk == 0 or n == 0:
        return pd.DataFrame(
            {f"reason_{i + 1}": pd.Series([None] * n, index=X.index, dtype=object) for i in range(k)}
        )
    values = {s.name: X[s.name].to_numpy() for s in specs}
    nps_days = X["days_since_last_nps"].to_numpy(dtype=float) if "days_since_last_nps" in X.columns else None
    part = np.argpartition(-contrib, kk - 1, axis=1)[:, :kk]
    order = np.take_along_axis(part, np.argsort(-np.take_along_axis(contrib, part, axis=1), axis=1), axis=1)
    out = {}
    for r in range(k):
        col = np.full(n, None, dtype=object)
        if r < kk:
            chosen = order[:, r]
            valid = np.isfinite(contrib[np.arange(n), chosen])
            for j, s in enumerate(specs):
                rows = np.flatnonzero(valid & (chosen == j))
                if len(rows):
                    col[rows] = _format(s, values[s.name][rows], None if nps_days is None else nps_days[rows])
        out[f"reason_{r + 1}"] = col
    return pd.DataFrame(out, index=X.index, dtype=object)  # object: a missing reason stays None, not NaN
