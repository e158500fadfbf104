"""Partitioned scoring: split customers by a stable hash of their id, score each part anywhere, reassemble.

The parts are plain data frames, so a Prefect task runner can ship them to threads or to a Dask cluster; the
result does not depend on how many parts there are or where they ran (tested: Dask == single process).
"""

from __future__ import annotations

import hashlib
import threading
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from proactive_ml.settings import Settings

_MODEL_CACHE: dict[tuple[str, str, str], tuple[Any, dict[str, Any]]] = {}
# One load per version and process: partitions scored on threads wait for the first load instead of repeating it.
_MODEL_LOCK = threading.Lock()


def partition_of(customer_ids: pd.Index | pd.Series, n_partitions: int) -> np.ndarray:
    """Stable partition number per customer id (same id, same part, on every machine and run)."""
    ids = pd.Index(customer_ids).astype(str)
    return np.fromiter(
        (int(hashlib.blake2b(i.encode(), digest_size=4).hexdigest(), 16) % n_partitions for i in ids),
        dtype=np.int64,
        count=len(ids),
    )


def split_partitions(features: pd.DataFrame, n_partitions: int) -> list[pd.DataFrame]:
    """The feature frame cut into ``n_partitions`` parts by :func:`partition_of` of its index."""
    part = partition_of(features.index, n_partitions)
    return [features[part == i] for i in range(n_partitions)]


def champion_reference(settings: Settings, target: str) -> str:
    """The champion's version number, resolved once so that every partition scores with the same model."""
    from proactive_ml.errors import UserError
    from proactive_ml.modeling.registry import champion_version, model_name

    version = champion_version(settings, target)
    if version is None:
        raise UserError(
            f"no champion model for {target!r} ({model_name(settings, target)}@champion): train first"
        )
    return version


def _load_version(settings: Settings, target: str, version: str) -> tuple[Any, dict[str, Any]]:
    """The model and its reasons explainer, loaded once per version and process (thread-safe)."""
    key = (settings.resolved_mlflow_uri, target, version)
    with _MODEL_LOCK:
        if key not in _MODEL_CACHE:
            _MODEL_CACHE[key] = _fetch_version(settings, target, version)
        return _MODEL_CACHE[key]


def _fetch_version(settings: Settings, target: str, version: str) -> tuple[Any, dict[str, Any]]:
    import json
    import tempfile
    from pathlib import Path

    from proactive_ml.modeling.registry import EXPLAINER_FILE, connect, load_sklearn_model, model_name

    client = connect(settings)
    name = model_name(settings, target)
    model = load_sklearn_model(f"models:/{name}/{version}")
    explainer: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            run_id = client.get_model_version(name, version).run_id
            explainer = json.loads(Path(client.download_artifacts(run_id, EXPLAINER_FILE, tmp)).read_text())
        except Exception:  # a model without an explainer still scores; reasons are then empty
            explainer = {}
    return model, explainer


def score_partition(features: pd.DataFrame, settings: Settings, target: str, version: str) -> pd.DataFrame:
    """Scores and top-3 reasons for one part (pure apart from loading the model version once per process)."""
    from proactive_ml.modeling.scoring import score_frame

    model, explainer = _load_version(settings, target, version)
    return score_frame(model, explainer, features)


def assemble_scores(
    parts: list[pd.DataFrame],
    settings: Settings,
    target: str,
    version: str,
    as_of: date | datetime,
    scored_at: datetime,
) -> pd.DataFrame:
    """Concatenate scored parts into rows of the ``scores`` table, sorted by customer id."""
    from proactive_ml.features.point_in_time import as_timestamp
    from proactive_ml.modeling.registry import model_name
    from proactive_ml.modeling.scoring import SCORE_COLUMNS

    scored = pd.concat(parts).sort_index()
    scored.insert(0, "customer_id", scored.index.astype(str))
    scored = scored.reset_index(drop=True)
    scored["cutoff"] = as_timestamp(as_of).date()
    scored["target"] = target
    scored["model_name"] = model_name(settings, target)
    scored["model_version"] = version
    scored["scored_at"] = scored_at
    return scored[SCORE_COLUMNS]
