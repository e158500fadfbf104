"""Flow: score every active customer with the champion (partitioned), then playbooks, policy and delivery.

Scoring is mapped over partitions of customers (stable hash of the id); the task runner is a setting
(``PROACTIVE_TASK_RUNNER=thread|dask``), so the same flow runs on one machine or on a Dask cluster.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task, unmapped
from prefect.task_runners import ThreadPoolTaskRunner

from flows.common import is_transient, load_settings, migrate_warehouse, resolve_as_of
from proactive_ml.warehouse import Warehouse


def task_runner(kind: str, workers: int = 2) -> Any:
    """The Prefect task runner for a setting value: threads here, or a (local or remote) Dask cluster."""
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(
            cluster_kwargs={
                "n_workers": workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": None,
            }
        )
    return ThreadPoolTaskRunner(max_workers=workers)


@task(name="build-features")
def build_features_task(as_of: datetime, overrides: dict[str, Any] | None) -> pd.DataFrame:
    """Point-in-time features of every active customer (one SQL pass in the warehouse)."""
    from proactive_ml.features.point_in_time import build_features

    s = load_settings(overrides)
    with Warehouse.connect(s.resolved_warehouse_url) as wh:
        return build_features(wh, as_of.date())


@task(name="resolve-champion", retries=2, retry_delay_seconds=3, retry_condition_fn=is_transient)
def resolve_champion(target: str, overrides: dict[str, Any] | None) -> str:
    """The champion version, once per run (fails closed when there is none)."""
    from proactive_ml.modeling.partitions import champion_reference

    return champion_reference(load_settings(overrides), target)


@task(name="score-partition")
def score_partition_task(
    features: pd.DataFrame, target: str, version: str, overrides: dict[str, Any] | None
) -> pd.DataFrame:
    """Scores and reasons for one partition of customers."""
    from proactive_ml.modeling.partitions import score_partition

    return score_partition(features, load_settings(overrides), target, version)


@task(name="store-scores")
def store_scores(
    parts: list[pd.DataFrame], target: str, version: str, as_of: datetime, overrides: dict[str, Any] | None
) -> int:
    """Write the day's scores (replacing a rerun's) with their cutoff, so history is kept."""
    from proactive_ml.modeling.partitions import assemble_scores
    from proactive_ml.modeling.scoring import write_scores

    s = load_settings(overrides)
    scores = assemble_scores(parts, s, target, version, as_of, scored_at=as_of)
    with Warehouse.connect(s.resolved_warehouse_url) as wh:
        return write_scores(wh, scores, as_of.date(), target)


def score_all(
    as_of: datetime, targets: list[str] | None, overrides: dict[str, Any] | None
) -> dict[str, pd.DataFrame]:
    """Features once, then every target's partitions mapped as tasks on the current flow's task runner."""
    from proactive_ml.modeling.partitions import assemble_scores, split_partitions

    s = load_settings(overrides)
    features = build_features_task(as_of, overrides)
    parts = split_partitions(features, s.partitions)
    out: dict[str, pd.DataFrame] = {}
    for target in targets or ["churn", "need"]:
        version = resolve_champion(target, overrides)
        futures = score_partition_task.map(parts, unmapped(target), unmapped(version), unmapped(overrides))
        scored = [f.result() for f in futures]
        store_scores(scored, target, version, as_of, overrides)
        out[target] = assemble_scores(scored, s, target, version, as_of, scored_at=as_of)
    return out


@flow(name="score-customers")
def score_flow(
    as_of: str | None = None, targets: list[str] | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, pd.DataFrame]:
    """Partitioned scoring of every target; returns the scores per target (for tests and callers)."""
    migrate_warehouse(load_settings(overrides))
    return score_all(resolve_as_of(as_of), targets, overrides)


@task(name="uplift-targeting")
def uplift_scores(as_of: datetime, overrides: dict[str, Any] | None) -> pd.Series | None:
    """Incremental value per customer from the uplift model, or None while there is too little randomized data."""
    from proactive_ml.modeling.uplift_training import score_uplift, train_uplift

    s = load_settings(overrides)
    with Warehouse.connect(s.resolved_warehouse_url) as wh:
        model, metrics = train_uplift(wh, as_of)
        get_run_logger().info("uplift model: %s", metrics)
        return None if model is None else score_uplift(wh, model, as_of)


@task(name="decide-and-send")
def decide_and_send(
    as_of: datetime, uplift: pd.Series | None, overrides: dict[str, Any] | None
) -> dict[str, Any]:
    """Playbooks × contact policy × holdout; decisions and ledger in one transaction; then delivery."""
    from proactive_ml.outreach.run import run_outreach

    s = load_settings(overrides)
    with Warehouse.connect(s.resolved_warehouse_url) as wh:
        return run_outreach(wh, s, as_of, uplift=uplift)


@flow(name="score-and-reach-out", task_runner=ThreadPoolTaskRunner(max_workers=2))  # type: ignore[arg-type]  # Prefect 3.8 stub: runner generic is invariant
def outreach_flow(
    as_of: str | None = None, targeting: str = "risk", overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Score (champion, partitioned), then decide and send; ``targeting='uplift'`` ranks by incremental value."""
    s = load_settings(overrides)
    migrate_warehouse(s)
    t = resolve_as_of(as_of)
    if (
        s.task_runner == "thread"
    ):  # partitions map onto this flow's own thread pool: no subflow run to pay for
        score_all(t, None, overrides)
    else:  # a subflow whose tasks run on the Dask cluster
        score_flow.with_options(task_runner=task_runner(s.task_runner))(t.isoformat(), None, overrides)
    uplift = uplift_scores(t, overrides) if targeting == "uplift" else None
    summary = decide_and_send(t, uplift, overrides)
    get_run_logger().info(
        "outreach: %s", {k: summary.get(k) for k in ("decided", "treated", "held_out", "sent")}
    )
    return summary


if __name__ == "__main__":
    outreach_flow()
