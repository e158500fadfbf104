"""Why a customer scored high, in words: each feature's exact contribution to the fitted model's own log-odds.

Method (exact, model-agnostic, no extra library): for a customer ``x`` and an original feature ``f``,

    contribution_f(x) = logit(model(x)) - logit(model(x with f set to its reference value))

where the reference is the training median (numeric) or the most common value (categorical). The model is the very
pipeline that scored the customer (imputation, one-hot columns and missing indicators of ``f`` change together,
calibration and ensembles included), so a reason can never disagree with the score: a positive contribution
means that this customer's value of ``f`` really raises *this model's* risk for *this customer*. For the logistic
candidate (linear in the transformed space, sigmoid calibration is linear in its decision function) this equals
the additive contribution exactly: the sum over ``f``'s transformed columns of coefficient x (value - reference),
e.g. ``b1 (x - r) + b2 (log1p x - log1p r)`` with log1p companions; for boosting and the soft-voting ensemble it is
the exact effect of that one feature with the others held at the customer's values. Why not the former ridge
surrogate: it explained a *fit* of the log-odds, which on real data disagreed with the model (reasons went to the
lowest-scored customers). Why not SHAP: a large dependency whose exact tree explainer does not cover calibrated
pipelines or the ensemble; the ablation above is exact for any of them, and computed only for customers who need
reasons, the cheapest way the model allows (``contributions.py``): for the logistic pipeline one matrix product
(the additive form above), for other pipelines with column-wise preprocessing one prediction of the final estimator
per feature on the rows scoring already transformed, else one batch prediction per feature.

Who gets reasons: customers whose score is at least ``explain_from`` (the score of the top
:data:`EXPLAIN_SHARE` of training rows), a per-customer rule, so the result does not depend on partitioning. A
reason is given only for a positive contribution whose words are true of the customer (the feature's declared
``when`` and ``direction`` in ``models/features.yaml``), strongest first, up to three. An explained customer with
no such feature gets :data:`OVERALL_PROFILE` (the combination of values, not one feature, drives the risk); that
text is for staff and never shown to customers (outreach drops it from emails).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from proactive_ml.features.point_in_time import FeatureSpec, load_feature_specs
from proactive_ml.modeling.contributions import feature_contributions

EXPLAIN_SHARE = 0.2  # customers scored like the top 20% of training rows get reasons (2x the top decile)
OVERALL_PROFILE = "overall profile resembles customers who left"
K = 3


@dataclass
class Explainer:
    """What is needed besides the model to explain a score, serialisable to JSON (logged next to the model)."""

    features: list[str]
    kinds: dict[str, str]
    reference: dict[str, Any]
    explain_from: float
    reasons: dict[str, str] = field(default_factory=dict)  # reason texts of declared attributes

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Explainer:
        """Inverse of :meth:`to_dict`; also reads the former surrogate's JSON (its medians and modal levels)."""
        if "reference" in d:
            return cls(**dict(d))
        numeric, categorical = list(d.get("numeric", [])), list(d.get("categorical", []))
        ref: dict[str, Any] = {c: d.get("center", {}).get(c) for c in numeric}
        ref |= {c: next(iter(d.get("cat_coef", {}).get(c) or {"": 0}), None) for c in categorical}
        kinds = {c: "numeric" for c in numeric} | {c: "categorical" for c in categorical}
        return cls(numeric + categorical, kinds, ref, 0.0)


def _is_numeric(col: pd.Series, kind: str | None) -> bool:
    if kind is not None:
        return kind == "numeric"
    return bool(pd.api.types.is_numeric_dtype(col))


def fit_explainer(
    X: pd.DataFrame, proba: np.ndarray, attribute_reasons: Mapping[str, str] | None = None
) -> Explainer:
    """The reference values of training rows ``X`` and the score from which customers get reasons.

    ``proba``: the model's probabilities for ``X``; ``attribute_reasons``: reason texts of declared customer
    attributes (name -> text with ``{value}``), default ``X.attrs['reasons']`` when present.
    """
    specs = {s.name: s for s in load_feature_specs()}
    kinds: dict[str, str] = {}
    reference: dict[str, Any] = {}
    for c in X.columns:
        spec = specs.get(c)
        numeric = _is_numeric(X[c], spec.kind if spec else None)
        kinds[c] = "numeric" if numeric else "categorical"
        if numeric:
            med = pd.to_numeric(X[c], errors="coerce").median()
            reference[c] = None if pd.isna(med) else float(med)
        else:
            mode = X[c].dropna().astype(str).mode()
            reference[c] = str(mode.iloc[0]) if len(mode) else None
    p = np.asarray(proba, dtype=float)
    explain_from = float(np.quantile(p, 1 - EXPLAIN_SHARE)) if len(p) else 0.0
    texts = dict(attribute_reasons if attribute_reasons is not None else X.attrs.get("reasons") or {})
    return Explainer(list(X.columns), kinds, reference, explain_from, {k: v for k, v in texts.items() if v})


def contributions(model: Any, explainer: Explainer, X: pd.DataFrame, transformed: Any = None) -> pd.DataFrame:
    """Per customer and feature: log-odds(x) - log-odds(x with the feature at its reference) of ``model``.

    Computed the cheapest exact way the model allows (:mod:`proactive_ml.modeling.contributions`);
    ``transformed``: the model's preprocessed ``X`` when the caller already has it.
    """
    return feature_contributions(model, explainer.features, explainer.reference, X, transformed)


def _spec_of(name: str, explainer: Explainer, specs: Mapping[str, FeatureSpec]) -> FeatureSpec:
    """The declared feature, else a spec for a customer attribute (its declared text, else 'name: value')."""
    if name in specs:
        return specs[name]
    kind = explainer.kinds.get(name, "numeric")
    default = "{value:.2f}" if kind == "numeric" else "{value}"
    text = explainer.reasons.get(name) or f"{name.replace('_', ' ')}: {default}"
    return FeatureSpec(name, "attribute", kind, "", text)


def _condition(spec: FeatureSpec, values: pd.Series, center: Any = None) -> np.ndarray:
    """Where the feature's declared ``when`` and ``direction`` (vs the reference value ``center``) hold."""
    ok_dir = np.ones(len(values), dtype=bool)
    if spec.direction and center is not None and spec.kind == "numeric":
        v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            ok_dir = (v < center) if spec.direction == "low" else (v > center)
    if spec.kind == "numeric":
        ok_dir &= pd.to_numeric(values, errors="coerce").notna().to_numpy()
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
    Fields besides ``{value}``: ``{s}`` (an s unless the number as shown is 1), ``{abs_value}``, ``{pct_down}``
    (the fall in percent) and ``{nps_when}`` (when the last NPS answer was given, in words).
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
        if "{s}" in tmpl:  # "1 ticket", "2 tickets": the plural s of the count as shown
            fields["s"] = np.where(np.round(num, digits) == 1, "", "s").astype(object)
    if "{s}" in tmpl and "s" not in fields:
        fields["s"] = ""  # a text value is no count
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
    texts = np.array([" ".join(tmpl.format(**r).split()) for r in recs], dtype=object)
    return texts[codes]


def _empty(index: pd.Index, k: int) -> pd.DataFrame:
    return pd.DataFrame(
        {f"reason_{i + 1}": pd.Series([None] * len(index), index=index, dtype=object) for i in range(k)}
    )


def _ranked(
    explainer: Explainer, contrib: pd.DataFrame, X: pd.DataFrame
) -> tuple[np.ndarray, list[FeatureSpec]]:
    """Contributions with -inf where no true reason can be given (not positive, or the words would be false)."""
    all_specs = {s.name: s for s in load_feature_specs()}
    specs = [_spec_of(f, explainer, all_specs) for f in contrib.columns]
    c = np.array(contrib.to_numpy(dtype=float), copy=True)
    for j, s in enumerate(specs):
        ok = _condition(s, X[s.name], explainer.reference.get(s.name)) & (c[:, j] > 1e-9)
        c[:, j] = np.where(ok, c[:, j], -np.inf)
    return c, specs


def top_reason_features(
    model: Any, explainer: Explainer, X: pd.DataFrame, scores: np.ndarray, k: int = K, transformed: Any = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(features, contributions): per explained customer, the features behind its ``k`` reasons, strongest first.

    ``features`` has columns ``reason_1..k`` holding feature names (None when fewer true reasons), one row per
    customer with a score of at least ``explainer.explain_from``; ``contributions`` are theirs (see
    :func:`contributions`). ``transformed``: the model's preprocessed ``X``, when the caller has it.
    """
    rows = np.asarray(scores, dtype=float) >= explainer.explain_from
    Xr = X[rows]
    contrib = contributions(model, explainer, Xr, None if transformed is None else transformed[rows])
    ranked, _ = _ranked(explainer, contrib, Xr)
    kk = min(k, ranked.shape[1])
    names = np.array(list(contrib.columns) + [None], dtype=object)
    order = np.argsort(-ranked, axis=1, kind="stable")[:, :kk] if kk else np.zeros((len(Xr), 0), dtype=int)
    valid = np.isfinite(np.take_along_axis(ranked, order, axis=1))
    picked = np.where(valid, order, len(names) - 1)
    out = {f"reason_{r + 1}": names[picked[:, r]] if r < kk else [None] * len(Xr) for r in range(k)}
    return pd.DataFrame(out, index=Xr.index, dtype=object), contrib


def top_reasons(
    model: Any, explainer: Explainer, X: pd.DataFrame, scores: np.ndarray, k: int = K, transformed: Any = None
) -> pd.DataFrame:
    """The ``k`` strongest true reasons per customer in words (columns ``reason_1..k``; None when fewer).

    ``scores``: the model's probabilities for ``X``. Only customers with a score of at least
    ``explainer.explain_from`` are explained; each of them gets at least one reason (:data:`OVERALL_PROFILE` when no
    feature gives a true, positive one). ``transformed``: the model's preprocessed ``X`` (see
    :func:`~proactive_ml.modeling.contributions.probabilities`), which saves transforming the rows again.
    """
    out = _empty(X.index, k)
    feats, _ = top_reason_features(model, explainer, X, scores, k, transformed)
    if feats.empty:
        return out
    specs = {s.name: s for s in load_feature_specs()}
    Xr = X.loc[feats.index]
    nps_days = Xr["days_since_last_nps"].to_numpy(dtype=float) if "days_since_last_nps" in Xr else None
    pos = X.index.get_indexer(feats.index)
    for r, col in enumerate(feats.columns):
        texts = np.full(len(feats), None, dtype=object)
        codes, names = pd.factorize(feats[col])  # customers grouped by feature name once (-1: no reason)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
        for j, name in enumerate(names):
            spec = _spec_of(str(name), explainer, specs)
            sel = order[bounds[j] : bounds[j + 1]]
            vals = Xr[spec.name].to_numpy()[sel]
            texts[sel] = _format(spec, vals, None if nps_days is None else nps_days[sel])
        if r == 0:
            texts = np.where(pd.isna(texts), OVERALL_PROFILE, texts).astype(object)
        out.iloc[pos, r] = texts
    return out


def top_decile_reason_share(scores_frame: pd.DataFrame) -> float:
    """Share of the top decile of ``score`` (at least one customer) that has a ``reason_1`` (goal: 1.0)."""
    if scores_frame.empty:
        return float("nan")
    n = max(1, int(np.ceil(len(scores_frame) * 0.1)))
    top = scores_frame.sort_values("score", ascending=False, kind="stable").head(n)
    r1 = top["reason_1"]
    return float((r1.notna() & (r1.astype(str).str.len() > 0)).mean())
