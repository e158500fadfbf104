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
from proactive_ml.features.labels import TARGETS, build_labels, treated_customers
from proactive_ml.features.point_in_time import build_features, feature_names
from proactive_ml.modeling.config import TrainingConfig
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


def build_dataset(
    wh: Warehouse, cutoffs: list[date], target: str, horizon_days: int = 30, exclude_treated: bool = True
) -> pd.DataFrame:
    """Features + ``label`` + ``cutoff`` for every active customer at each cutoff (index: customer_id).

    With ``exclude_treated`` customers contacted around a cutoff (decisions arm='treatment') are left out of
    that cutoff: their outcome was changed by us, so it is not a natural label. ``df.attrs['n_excluded_treated']``
    counts them.
    """
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
    return df[feature_names()], df[LABEL].to_numpy(dtype=int)


def snapshot_hash(df: pd.DataFrame) -> str:
    """A stable content hash of a data frame (values and index), used as the MLflow dataset digest."""
    h = hashlib.sha256()
    h.update(",".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return h.hexdigest()
