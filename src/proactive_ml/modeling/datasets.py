"""Training data out of history: cutoffs, the point-in-time dataset, feature/label split and a content hash.

Warehouse tables in, data frames out (features + ``label`` + ``cutoff``, indexed by customer id). Shared by the
trainer and the MLflow edge, so neither imports the other.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

import numpy as np
import pandas as pd

from proactive_ml.errors import UserError
from proactive_ml.features.labels import TARGETS, build_labels, inactivity_labels, treated_customers
from proactive_ml.features.outcomes import HOUSE_NEED
from proactive_ml.features.point_in_time import build_features
from proactive_ml.ingest.sources import customer_labels
from proactive_ml.modeling.config import LabelSpec, TrainingConfig
from proactive_ml.warehouse import Warehouse

LABEL = "label"
CUTOFF = "cutoff"


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


def data_start(wh: Warehouse) -> date | None:
    """The first day of usage data (None when there is none)."""
    v = wh.scalar("SELECT MIN(ts) FROM usage_events")
    if v is None:
        return None
    return pd.Timestamp(v).date()


def _labels(
    wh: Warehouse, c: date, target: str, horizon_days: int, label: LabelSpec | None, data_end: date | None
) -> pd.DataFrame:
    """(label frame with ``label`` [and ``came_back``], n_lapsed) of one cutoff under the label definition."""
    if label is not None and label.definition == "inactivity":
        y = inactivity_labels(
            wh, c, horizon_days, label.active_window_days, label.qualifying_features, data_end=data_end
        )
        return y.rename(columns={"churn": LABEL})
    need = label.events if label is not None and label.definition == "need" else HOUSE_NEED
    y = build_labels(wh, c, horizon_days, need)[[target]].rename(columns={target: LABEL})
    y.attrs["n_lapsed"] = 0
    return y


def build_dataset(
    wh: Warehouse,
    cutoffs: list[date],
    target: str,
    horizon_days: int = 30,
    exclude_treated: bool = True,
    label: LabelSpec | None = None,
    data_end: date | None = None,
) -> pd.DataFrame:
    """Features + ``label`` + ``cutoff`` for every active customer at each cutoff (index: customer_id).

    ``label`` chooses the definition (default: the target's own, cancelled / needed help within the horizon). With
    the inactivity label only customers active at the cutoff get a row: the lapsed ones are counted in
    ``df.attrs['n_lapsed']``, and ``df.attrs['n_came_back']`` counts churn labels followed by an event before
    ``data_end`` (false churn). With ``exclude_treated`` customers contacted around a cutoff (decisions
    arm='treatment') are left out of that cutoff: their outcome was changed by us, so it is not a natural label.
    ``df.attrs['n_excluded_treated']`` counts them.
    """
    if target not in TARGETS:
        raise UserError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
    parts = []
    counts = {"n_excluded_treated": 0, "n_lapsed": 0, "n_came_back": 0}
    for c in cutoffs:
        y = _labels(wh, c, target, horizon_days, label, data_end)
        counts["n_lapsed"] += int(y.attrs.get("n_lapsed", 0))
        part = build_features(wh, c).join(y, how="inner")
        if exclude_treated:
            treated = treated_customers(wh, c, horizon_days)
            if treated:
                keep = ~part.index.isin(list(treated))
                counts["n_excluded_treated"] += int((~keep).sum())
                part = part[keep]
        if "came_back" in part.columns:
            counts["n_came_back"] += int(((part[LABEL] == 1) & (part["came_back"] == 1)).sum())
            part = part.drop(columns="came_back")
        part[CUTOFF] = c
        parts.append(part)
    df = pd.concat(parts) if parts else pd.DataFrame()
    df.attrs.update(counts)
    return df


def snapshot_dataset(wh: Warehouse, as_of: date) -> pd.DataFrame:
    """Features as of ``as_of`` + the snapshot ``label`` (customer_labels) + ``cutoff``, one row per customer."""
    labels = customer_labels(wh)
    if labels.empty:
        raise UserError(
            "the snapshot label needs a label column in the customers file: declare `label: {from: <column>, "
            "true: [...], false: [...]}` under customers in the source mapping and ingest again"
        )
    y = (
        labels.set_index(labels["customer_id"].astype(str))["label"]
        .astype(bool)
        .astype("int64")
        .rename(LABEL)
    )
    X = build_features(wh, as_of)
    X.index = X.index.astype(str)
    df = X.join(y, how="inner")
    df[CUTOFF] = as_of
    df.index = df.index.astype(object)
    df.index.name = "customer_id"
    return df


def split_xy(df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Feature columns (declared order, then spend and attribute columns) and the 0/1 label."""
    return df.drop(columns=[LABEL, CUTOFF], errors="ignore"), df[LABEL].to_numpy(dtype=int)


def snapshot_hash(df: pd.DataFrame) -> str:
    """A stable content hash of a data frame (values and index), used as the MLflow dataset digest."""
    h = hashlib.sha256()
    h.update(",".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return h.hexdigest()
