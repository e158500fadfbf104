"""Uplift modelling on randomized data (pure: data frames in, models and numbers out).

The outreach holdout makes treatment random *among decisions*, so a model of the difference between treated and
holdout outcomes estimates the incremental effect of emailing a customer. Four scikit-learn meta-learners (which
one the product trains is declared in ``models/candidates.yaml``; see :mod:`proactive_ml.modeling.uplift_selection`):

* ``class_transformation`` (``fit_uplift``'s default): with treated and control reweighted to equal total weight, the label
  ``z = y*t + (1-y)*(1-t)`` satisfies ``uplift(x) = 2 P(z=1|x) - 1`` (Jaskowski & Jaroszewicz 2012); one
  classifier, robust on small data;
* ``t_learner``: one outcome model per arm, uplift = ``p1(x) - p0(x)``;
* ``dr_learner``: doubly robust (Kennedy 2023): cross-fitted outcome models per arm give each row the pseudo-outcome
  ``mu1 - mu0 + (t - e) / (e (1 - e)) * (y - mu_t)`` (``e`` = the randomized treated share), and one regressor of it
  is the uplift; unbiased even where the outcome models are wrong, because ``e`` is known by design;
* ``x_learner``: outcome models per arm impute each row's effect (treated: ``y - mu0``; holdout: ``mu1 - y``), one
  regressor per arm learns it, blended by ``e`` (Kuenzel et al. 2019).

Base learners: regularised logistic regression (default; ridge for the effect regressors), the same with its strength
chosen by inner cross-validation on the training rows (``logistic_cv``: LogisticRegressionCV / RidgeCV) or
HistGradientBoosting,
behind one preprocessing pipeline (impute + scale numbers, one-hot categories); ``params`` / ``effect_params``
override the base's hyperparameters (declared per learner in ``models/candidates.yaml``). Evaluation: :func:`uplift_at_k` (scikit-uplift's definition) and the
normalised Qini coefficient (:func:`qini_auc`). The same code runs on the Hillstrom data (``bench/hillstrom.py``).

For churn the *outcome* is retention (1 = still a customer at the horizon), so a positive uplift is an
incremental retention probability, which is what ``run_outreach(..., uplift=...)`` ranks by.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, Ridge, RidgeCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, SplineTransformer, StandardScaler

from proactive_ml.features import outcomes
from proactive_ml.modeling.config import UPLIFT_BASES, UPLIFT_METHODS, UPLIFT_NUMERIC

METHODS = UPLIFT_METHODS
BASES = UPLIFT_BASES
NUMERIC = UPLIFT_NUMERIC


def signed_log1p(values: np.ndarray) -> np.ndarray:
    """``sign(x) * log(1 + |x|)``: tames skewed spend and counts, defined for negative changes too."""
    return np.asarray(np.sign(values) * np.log1p(np.abs(values)))


def _numeric_steps(numeric: str, spline_knots: int) -> list[Any]:
    """Numbers: impute, then (``log1p``) signed log, then (``splines``) a cubic B-spline basis, then scale.

    Splines let a linear base learn a curved effect of spend or recency at the cost of a few columns per number.
    """
    if numeric not in NUMERIC:
        raise ValueError(f"unknown numeric transform {numeric!r}; expected one of {NUMERIC}")
    steps: list[Any] = [SimpleImputer(strategy="median", keep_empty_features=True)]
    if numeric in ("log1p", "splines"):
        steps.append(FunctionTransformer(signed_log1p))
    if numeric == "splines":
        steps.append(SplineTransformer(n_knots=spline_knots, degree=3))
    return [*steps, StandardScaler()]


def _preprocessor(X: pd.DataFrame, numeric: str = "scale", spline_knots: int = 6) -> ColumnTransformer:
    num = [
        c for c in X.columns if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])
    ]
    cat = [c for c in X.columns if c not in num]
    return ColumnTransformer(
        [
            (
                "num",
                make_pipeline(*_numeric_steps(numeric, spline_knots)),
                num,
            ),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", min_frequency=20),
                ),
                cat,
            ),
        ],
        sparse_threshold=0.0,
    )


def _base(base: str, random_state: int, C: float, params: dict[str, Any] | None = None) -> Any:
    """The outcome classifier: the base's defaults, then the declared ``params``."""
    if base == "logistic":
        return LogisticRegression(**({"C": C, "max_iter": 2000} | dict(params or {})))
    if base == "logistic_cv":  # the strength chosen by inner 3-fold CV (log loss) on each fit's own rows
        defaults = {"Cs": 10, "cv": 3, "scoring": "neg_log_loss", "max_iter": 2000}
        return LogisticRegressionCV(
            **(defaults | dict(params or {}) | {"l1_ratios": (0.0,), "use_legacy_attributes": False})
        )
    if base == "hgb":
        defaults = {"max_iter": 150, "learning_rate": 0.05, "max_leaf_nodes": 8, "min_samples_leaf": 100}
        return HistGradientBoostingClassifier(
            **(defaults | dict(params or {}) | {"random_state": random_state})
        )
    raise ValueError(f"unknown base learner {base!r}; expected one of {BASES}")


def _effect_regressor(base: str, random_state: int, params: dict[str, Any] | None = None) -> Any:
    """The regressor of effects (DR pseudo-outcomes, X-learner imputed effects): ridge or regularised boosting."""
    if base == "logistic":
        return Ridge(**({"alpha": 1.0} | dict(params or {})))
    if base == "logistic_cv":  # ridge whose alpha is chosen by efficient leave-one-out CV
        return RidgeCV(
            **({"alpha_per_target": False, "alphas": tuple(np.logspace(-3, 3, 13))} | dict(params or {}))
        )
    if base == "hgb":
        defaults = {"max_iter": 100, "learning_rate": 0.05, "max_leaf_nodes": 8, "min_samples_leaf": 300}
        return HistGradientBoostingRegressor(
            **(defaults | dict(params or {}) | {"random_state": random_state})
        )
    raise ValueError(f"unknown base learner {base!r}; expected one of {BASES}")


def _as_frame(X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
    df = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    for c in df.columns:  # booleans and pandas strings: make them plain categories for the encoder
        if pd.api.types.is_bool_dtype(df[c]):
            df = df.assign(**{str(c): df[c].astype(float)}) if isinstance(c, str) else df
    df.columns = [str(c) for c in df.columns]
    return df


@dataclass
class UpliftModel:
    """A fitted meta-learner. ``predict_uplift(X)`` = estimated P(outcome | treated) - P(outcome | control)."""

    method: str = "class_transformation"
    base: str = "logistic"
    C: float = 1.0
    random_state: int = 42
    params: dict[str, Any] = field(default_factory=dict)  # the outcome classifier's hyperparameters
    effect_params: dict[str, Any] = field(default_factory=dict)  # the effect regressor's (dr/x learners)
    numeric: str = "scale"  # how numbers enter: scale, log1p (signed) or splines (of the signed log)
    spline_knots: int = 6
    models_: dict[str, Pipeline] = field(default_factory=dict)
    columns_: list[str] = field(default_factory=list)
    treated_share_: float = float("nan")

    def _pipeline(self, X: pd.DataFrame, effect: bool = False) -> Pipeline:
        est = (
            _effect_regressor(self.base, self.random_state, self.effect_params)
            if effect
            else _base(self.base, self.random_state, self.C, self.params)
        )
        return Pipeline([("prep", _preprocessor(X, self.numeric, self.spline_knots)), ("clf", est)])

    def _outcome(self, X: pd.DataFrame, y: np.ndarray, rows: np.ndarray, arm: int) -> Pipeline:
        """One arm's outcome model fitted on ``rows`` (a boolean mask already restricted to that arm)."""
        if len(np.unique(y[rows])) < 2:
            raise ValueError(f"arm {arm} has a single outcome class; cannot fit its outcome model")
        return self._pipeline(X).fit(X[rows], y[rows])

    def fit(self, X: pd.DataFrame, treatment: Any, y: Any) -> UpliftModel:
        """Fit on randomized data: ``treatment`` 1/0 (treated/holdout) and ``y`` 1/0 outcome."""
        if self.method not in METHODS:
            raise ValueError(f"unknown uplift method {self.method!r}; expected one of {METHODS}")
        X = _as_frame(X)
        t = np.asarray(treatment).astype(int)
        yv = np.asarray(y).astype(int)
        if len(np.unique(t)) < 2:
            raise ValueError("uplift needs both treated and holdout rows")
        self.columns_ = list(X.columns)
        self.treated_share_ = float(t.mean())
        if self.method == "class_transformation":
            z = yv * t + (1 - yv) * (1 - t)
            w = np.where(t == 1, 0.5 / self.treated_share_, 0.5 / (1 - self.treated_share_))
            self.models_ = {"z": self._pipeline(X).fit(X, z, clf__sample_weight=w)}
        elif self.method == "t_learner":
            self.models_ = {str(arm): self._outcome(X, yv, t == arm, arm) for arm in (0, 1)}
        elif self.method == "dr_learner":
            self.models_ = {
                "effect": self._pipeline(X, effect=True).fit(X, self._dr_pseudo_outcome(X, t, yv))
            }
        else:
            self._fit_x_learner(X, t, yv)
        return self

    def _dr_pseudo_outcome(self, X: pd.DataFrame, t: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Each row's doubly robust effect, from outcome models fitted on the other half (2-fold cross-fitting).

        Cross-fitting keeps a row's own outcome out of the model that predicts it, so overfit outcome models do
        not leak into the pseudo-outcome; ``e`` is the randomized treated share, known by design.
        """
        e = self.treated_share_
        fold = np.random.default_rng(self.random_state).integers(0, 2, len(t))
        mu = np.zeros((len(t), 2))
        for k in (0, 1):
            held = fold == k
            for arm in (0, 1):
                model = self._outcome(X, y, ~held & (t == arm), arm)
                mu[held, arm] = model.predict_proba(X[held])[:, 1]
        mu_t = mu[np.arange(len(t)), t]
        return np.asarray(mu[:, 1] - mu[:, 0] + (t - e) / (e * (1 - e)) * (y - mu_t))

    def _fit_x_learner(self, X: pd.DataFrame, t: np.ndarray, y: np.ndarray) -> None:
        """Outcome models per arm, then one regressor per arm of the effect they impute to that arm's rows."""
        treated, held = t == 1, t == 0
        mu0, mu1 = self._outcome(X, y, held, 0), self._outcome(X, y, treated, 1)
        d1 = y[treated] - mu0.predict_proba(X[treated])[:, 1]
        d0 = mu1.predict_proba(X[held])[:, 1] - y[held]
        self.models_ = {
            "effect_treated": self._pipeline(X, effect=True).fit(X[treated], d1),
            "effect_holdout": self._pipeline(X, effect=True).fit(X[held], d0),
        }

    def predict_uplift(self, X: pd.DataFrame) -> np.ndarray:
        """Estimated incremental probability of the outcome if treated (within [-1, 1])."""
        X = _as_frame(X)[self.columns_]
        if self.method == "class_transformation":
            return 2.0 * self.models_["z"].predict_proba(X)[:, 1] - 1.0
        if self.method == "t_learner":
            return self.models_["1"].predict_proba(X)[:, 1] - self.models_["0"].predict_proba(X)[:, 1]
        if self.method == "dr_learner":
            u = self.models_["effect"].predict(X)
        else:  # x_learner: weight each arm's effect model by the other arm's share (Kuenzel et al.)
            e = self.treated_share_
            u = e * self.models_["effect_holdout"].predict(X) + (1 - e) * self.models_[
                "effect_treated"
            ].predict(X)
        return np.clip(np.asarray(u, dtype=float), -1.0, 1.0)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The same as :meth:`predict_uplift`: the entry point of the logged model's serving (pyfunc) flavour."""
        return self.predict_uplift(X)


def fit_uplift(
    X: pd.DataFrame,
    treatment: Any,
    y: Any,
    method: str = "class_transformation",
    base: str = "logistic",
    C: float = 1.0,
    random_state: int = 42,
    params: dict[str, Any] | None = None,
    effect_params: dict[str, Any] | None = None,
    numeric: str = "scale",
    spline_knots: int = 6,
) -> UpliftModel:
    """Fit an uplift meta-learner on randomized data."""
    model = UpliftModel(
        method=method,
        base=base,
        C=C,
        random_state=random_state,
        params=dict(params or {}),
        effect_params=dict(effect_params or {}),
        numeric=numeric,
        spline_knots=spline_knots,
    )
    return model.fit(X, treatment, y)


def predict_uplift(model: UpliftModel, X: pd.DataFrame) -> pd.Series:
    """Uplift per row of ``X`` as a Series on X's index (name ``uplift``), for ``run_outreach(..., uplift=)``."""
    return pd.Series(model.predict_uplift(X), index=X.index, name="uplift")


# ------------------------------------------------------------------ evaluation
def uplift_at_k(y: Any, uplift: Any, treatment: Any, k: float = 0.3, strategy: str = "by_group") -> float:
    """Treated minus control outcome rate among the top ``k`` share by predicted uplift (scikit-uplift's rule).

    ``by_group``: the top k of the treated and the top k of the control group separately; ``overall``: the top
    k of everyone, then compare arms inside it.
    """
    yv, u, t = np.asarray(y, float), np.asarray(uplift, float), np.asarray(treatment).astype(int)
    order = np.argsort(-u, kind="mergesort")
    if strategy == "overall":
        top = order[: int(np.ceil(len(u) * k))]
        tt, yy = t[top], yv[top]
        return float(yy[tt == 1].mean() - yy[tt == 0].mean())
    if strategy != "by_group":
        raise ValueError("strategy must be 'by_group' or 'overall'")
    res = []
    for arm in (1, 0):
        idx = order[t[order] == arm]
        n = int(np.ceil(len(idx) * k))
        res.append(yv[idx[:n]].mean())
    return float(res[0] - res[1])


def qini_curve(y: Any, uplift: Any, treatment: Any) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve: x = number targeted, q = treated responders - control responders * (n_t / n_c) in the top x."""
    yv, u, t = np.asarray(y, float), np.asarray(uplift, float), np.asarray(treatment).astype(int)
    order = np.argsort(-u, kind="mergesort")
    yv, t = yv[order], t[order]
    nt, nc = np.cumsum(t), np.cumsum(1 - t)
    yt, yc = np.cumsum(yv * t), np.cumsum(yv * (1 - t))
    with np.errstate(divide="ignore", invalid="ignore"):
        q = yt - np.where(nc > 0, yc * nt / nc, 0.0)
    x = np.arange(1, len(u) + 1)
    return np.concatenate([[0], x]), np.concatenate([[0.0], q])


def qini_auc(y: Any, uplift: Any, treatment: Any) -> float:
    """Normalised Qini coefficient: (area of the model's Qini curve - random) / (perfect - random)."""
    yv, t = np.asarray(y, float), np.asarray(treatment).astype(int)
    x, q = qini_curve(yv, uplift, t)
    area = float(np.trapezoid(q, x))
    rand = float(q[-1] * x[-1] / 2)
    # perfect model: treated responders first, control responders last
    perfect_score = yv * t - yv * (1 - t)
    xp, qp = qini_curve(yv, perfect_score, t)
    perfect = float(np.trapezoid(qp, xp))
    denom = perfect - rand
    return float((area - rand) / denom) if denom else 0.0


def targeting_value(true_uplift: pd.Series, scores: pd.Series, budget: int) -> float:
    """Sum of the *true* uplift of the ``budget`` customers ranked first by ``scores`` (simulation ground truth)."""
    top = scores.sort_values(ascending=False, kind="mergesort").index[:budget]
    return float(true_uplift.reindex(top).fillna(0.0).sum())


# ------------------------------------------------------------------ training data from the warehouse decisions
def randomized_outcomes(
    decisions: pd.DataFrame, customers: pd.DataFrame, as_of: Any, horizon_days: int = 60
) -> pd.DataFrame:
    """Decisions old enough to have an outcome: customer_id, decided (date), treatment 1/0, retained 1/0.

    Only randomized rows (arm treatment/holdout) whose window ``[as_of_decision, + horizon]`` ended by ``as_of``;
    one row per customer (the first decision), since a customer's later decisions depend on the first.
    """
    d = outcomes.randomized(decisions).copy()
    d["decided"] = pd.to_datetime(d["as_of"])
    d = d[outcomes.window_ended(d["decided"], horizon_days, as_of)]
    d = outcomes.first_per_customer(d)
    c = customers[["customer_id", "cancelled_at"]].drop_duplicates("customer_id")
    d = d.merge(c, on="customer_id", how="left")
    d["retained"] = outcomes.retained(d["decided"], d["cancelled_at"], horizon_days).astype(int)
    d["treatment"] = outcomes.is_treated(d["arm"])
    return d[["customer_id", "decided", "playbook", "treatment", "retained"]].reset_index(drop=True)
