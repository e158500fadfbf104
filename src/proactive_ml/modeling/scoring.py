"""Scoring, the one path: each champion's probability, version and three reasons for every active customer.

Customers are scored in partitions that can run anywhere.

``score_targets`` is used by the CLI, the flows and the benchmarks alike: point-in-time features once -> each
target's champion version, resolved once -> customers split by a stable hash of their id -> every partition scored
by ``map_partitions`` (in this process by default; a flow passes one that maps Prefect tasks onto threads or a
Dask cluster) -> reassembled and sorted -> written to ``scores``. The result does not depend on where the
partitions ran (tested: Dask == threads == in process); with another number of partitions a score can differ in
its last bits (~1e-16: the batch a row is transformed in changes floating-point rounding; at 1M the reasons
stayed the same).

The ``scores`` table keeps history: one row per (customer_id, cutoff, target); scoring the same cutoff again
replaces that cutoff's rows in one transaction.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from proactive_ml.errors import UserError
from proactive_ml.features.point_in_time import as_timestamp, build_features
from proactive_ml.modeling import registry
from proactive_ml.modeling.contributions import probabilities
from proactive_ml.modeling.reasons import Explainer, top_reasons
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse

SCORE_COLUMNS = [
    "customer_id",
    "cutoff",
    "target",
    "score",
    "model_name",
    "model_version",
    "reason_1",
    "reason_2",
    "reason_3",
    "scored_at",
]

# (feature partitions, target, champion version) -> scored partitions, in the same order.
MapPartitions = Callable[[list[pd.DataFrame], str, str], list[pd.DataFrame]]

_MODEL_CACHE: dict[tuple[str, str, str], tuple[Any, dict[str, Any]]] = {}
# One load per version and process: partitions scored on threads wait for the first load instead of repeating it.
_MODEL_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------------------- partitions
def partition_of(customer_ids: pd.Index | pd.Series, n_partitions: int) -> np.ndarray:
    """Stable partition number per customer id (same id, same part, on every machine and run).

    The first 4 bytes of the id's BLAKE2b digest, big-endian, modulo ``n_partitions``. The digests are joined
    into one buffer read as big-endian unsigned 32-bit integers (no Python integer per id).
    """
    index = pd.Index(customer_ids)
    # ids that are already text skip the conversion (it would copy a million strings for nothing)
    ids = index.tolist() if index.inferred_type in ("string", "empty") else index.astype(str).tolist()
    digest = hashlib.blake2b
    raw = b"".join([digest(i.encode(), digest_size=4).digest() for i in ids])
    h = np.frombuffer(raw, dtype=">u4").astype(np.uint64)
    return (h % np.uint64(n_partitions)).astype(np.int64)


def split_partitions(features: pd.DataFrame, n_partitions: int) -> list[pd.DataFrame]:
    """The feature frame cut into ``n_partitions`` parts by :func:`partition_of` of its index."""
    part = partition_of(features.index, n_partitions)
    return [features[part == i] for i in range(n_partitions)]


def champion_reference(settings: Settings, target: str) -> str:
    """The champion's version number, resolved once so that every partition scores with the same model."""
    version = registry.champion_version(settings, target)
    if version is None:
        raise UserError(
            f"no champion model for {target!r}: registered model {registry.model_name(settings, target)!r} has "
            f"no @champion alias (train with `proactive-ml train --target {target}` or promote a version with "
            f"`proactive-ml promote --target {target} --version N`). Scoring never falls back to 'latest'."
        )
    return version


def load_model_version(settings: Settings, target: str, version: str) -> tuple[Any, dict[str, Any]]:
    """The model and its reasons explainer, loaded once per version and process (thread-safe)."""
    key = (settings.resolved_mlflow_uri, target, version)
    with _MODEL_LOCK:
        if key not in _MODEL_CACHE:
            _MODEL_CACHE[key] = registry.load_version(settings, target, version)
        return _MODEL_CACHE[key]


# ---------------------------------------------------------------------------------------------- pure scoring
def score_frame(model: Any, explainer: dict[str, Any] | None, X: pd.DataFrame) -> pd.DataFrame:
    """Probabilities and top-3 reasons for feature rows ``X`` (pure: no storage, no MLflow)."""
    p, transformed = probabilities(model, X)
    out = pd.DataFrame({"score": p}, index=X.index)
    if explainer:
        reasons = top_reasons(model, Explainer.from_dict(explainer), X, p, transformed=transformed)
    else:
        reasons = pd.DataFrame({f"reason_{i}": [None] * len(X) for i in (1, 2, 3)}, index=X.index)
    return out.join(reasons)


def score_partition(features: pd.DataFrame, settings: Settings, target: str, version: str) -> pd.DataFrame:
    """Scores and top-3 reasons for one part (pure apart from loading the model version once per process)."""
    model, explainer = load_model_version(settings, target, version)
    return score_frame(model, explainer, features)


def in_process(settings: Settings) -> MapPartitions:
    """Score the partitions one after the other in this process (the CLI's and the benchmark's runner)."""

    def run(parts: list[pd.DataFrame], target: str, version: str) -> list[pd.DataFrame]:
        return [score_partition(p, settings, target, version) for p in parts]

    return run


def assemble_scores(
    parts: list[pd.DataFrame],
    settings: Settings,
    target: str,
    version: str,
    as_of: date | datetime,
    scored_at: datetime,
) -> pd.DataFrame:
    """Concatenate scored parts into rows of the ``scores`` table, sorted by customer id.

    The ids are sorted as one array with a stable sort (the parts arrive as sorted runs, which it merges in one
    pass) and the rows concatenated without their index (pandas would re-infer the type of a million ids).
    """
    ids = (
        np.concatenate([np.asarray(p.index, dtype=object) for p in parts]) if parts else np.array([], object)
    )
    order = np.argsort(ids, kind="stable")
    scored = pd.concat(parts, ignore_index=True).take(order).reset_index(drop=True)
    scored.insert(0, "customer_id", pd.Index(ids[order]).astype(str))
    scored["cutoff"] = as_timestamp(as_of).date()
    scored["target"] = target
    scored["model_name"] = registry.model_name(settings, target)
    scored["model_version"] = version
    scored["scored_at"] = scored_at
    return scored[SCORE_COLUMNS]


# ---------------------------------------------------------------------------------------------- the one path
def write_scores(wh: Warehouse, scores: pd.DataFrame, cutoff: date, target: str) -> int:
    """Replace the rows of (cutoff, target) in ``scores`` with ``scores`` (all or nothing).

    The rows go in as one Arrow table (DuckDB scans it in place; PostgreSQL gets it by one COPY): converting the
    text columns once in Arrow's C++ is much cheaper than handing the engine a million Python strings per column.
    """
    rows = pa.Table.from_pandas(scores[SCORE_COLUMNS], preserve_index=False)
    with wh.transaction():
        wh.execute(
            "DELETE FROM scores WHERE cutoff = :cutoff AND target = :target",
            {"cutoff": cutoff, "target": target},
        )
        if rows.num_rows:
            cols = ", ".join(SCORE_COLUMNS)
            with wh.arrow_source(rows, "_scores_new") as src:
                wh.execute(f"INSERT INTO scores ({cols}) SELECT {cols} FROM {src}")
    return rows.num_rows


def score_targets(
    wh: Warehouse,
    settings: Settings,
    as_of: date | datetime,
    targets: Sequence[str] = ("churn", "need"),
    scored_at: datetime | None = None,
    map_partitions: MapPartitions | None = None,
) -> dict[str, pd.DataFrame]:
    """Score every customer active at ``as_of`` with each target's ``@champion`` and store the result.

    Features use data strictly before ``as_of`` (the cutoff) and are built once for all targets. Fails closed
    with UserError, before any work, when a target has no champion. ``map_partitions`` runs the partitions
    (default: :func:`in_process`). Returns the rows written per target (columns of ``scores``, by customer id).
    """
    versions = {t: champion_reference(settings, t) for t in targets}
    cutoff = as_timestamp(as_of).date()
    parts = split_partitions(build_features(wh, cutoff), settings.partitions)
    run = map_partitions or in_process(settings)
    out = {}
    for target, version in versions.items():
        scored = run(parts, target, version)
        out[target] = assemble_scores(
            scored, settings, target, version, as_of, scored_at or as_timestamp(as_of)
        )
        write_scores(wh, out[target], cutoff, target)
    return out


def score_customers(
    wh: Warehouse,
    settings: Settings,
    as_of: date | datetime,
    target: str = "churn",
    scored_at: datetime | None = None,
    map_partitions: MapPartitions | None = None,
) -> pd.DataFrame:
    """:func:`score_targets` for one target: the rows written to ``scores``."""
    return score_targets(wh, settings, as_of, [target], scored_at, map_partitions)[target]
