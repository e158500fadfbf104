"""Flow: score every active customer with the champion (partitioned), then playbooks, policy and delivery.

Scoring is the one path of ``proactive_ml.modeling.scoring`` (the CLI's too), with its partitions of customers
(stable hash of the id) mapped as tasks; the task runner is a setting (``PROACTIVE_TASK_RUNNER=thread|dask``), so
the same flow runs on one machine or on a Dask cluster. Uplift targeting loads the registered uplift model's
``@champion`` (trained by the train flow) once the latest policy check clears it; otherwise it targets by risk.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task, unmapped
from prefect.task_runners import ThreadPoolTaskRunner

from flows.common import is_transient, load_settings, migrate_warehouse, resolve_as_of, run_name
from proactive_ml.measurement.policy_check import uplift_cleared
from proactive_ml.modeling.scoring import MapPartitions, score_partition, score_targets
from proactive_ml.modeling.uplift_training import load_uplift_champion, score_uplift
from proactive_ml.outreach.run import run_outreach
from proactive_ml.resources import open_resources
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


@task(name="score-partition", retries=2, retry_delay_seconds=3, retry_condition_fn=is_transient)
def score_partition_task(
    features: pd.DataFrame, target: str, version: str, overrides: dict[str, Any] | None
) -> pd.DataFrame:
    """Scores and reasons for one partition of customers (the model is loaded once per worker process)."""
    return score_partition(features, load_settings(overrides), target, version)


def on_task_runner(overrides: dict[str, Any] | None) -> MapPartitions:
    """Partitions mapped as tasks on the current flow's task runner (threads or a Dask cluster)."""

    def run(parts: list[pd.DataFrame], target: str, version: str) -> list[pd.DataFrame]:
        futures = score_partition_task.map(parts, unmapped(target), unmapped(version), unmapped(overrides))
        return [f.result() for f in futures]

    return run


def score_all(
    as_of: datetime, targets: list[str] | None, overrides: dict[str, Any] | None
) -> dict[str, pd.DataFrame]:
    """The one scoring path (``score_targets``) with its partitions mapped onto this flow's task runner."""
    s = load_settings(overrides)
    with Warehouse.connect(s.resolved_warehouse_url) as wh:
        return score_targets(
            wh,
            s,
            as_of,
            targets or ["churn", "need"],
            scored_at=as_of,
            map_partitions=on_task_runner(overrides),
        )


@flow(name="score-customers", flow_run_name=run_name("score"))
def score_flow(
    as_of: str | None = None, targets: list[str] | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, pd.DataFrame]:
    """Partitioned scoring of every target; returns the scores per target (for tests and callers)."""
    migrate_warehouse(load_settings(overrides))
    return score_all(resolve_as_of(as_of), targets, overrides)


@task(name="uplift-targeting", retries=2, retry_delay_seconds=3, retry_condition_fn=is_transient)
def uplift_scores(as_of: datetime, overrides: dict[str, Any] | None) -> pd.Series | None:
    """Incremental value per customer from the uplift ``@champion``; None without one or without the policy check.

    Outreach targets by uplift only when the latest policy check (a doubly robust off-policy estimate on the logged
    decisions) found that uplift targeting keeps more customers per email than risk targeting, bound above zero.
    """
    s = load_settings(overrides)
    champion = load_uplift_champion(s)
    if champion is None:
        get_run_logger().info(
            "uplift model: no @champion yet (the train flow registers one); targeting by risk"
        )
        return None
    model, version = champion
    with Warehouse.connect(s.resolved_warehouse_url) as wh:
        cleared, reason = uplift_cleared(wh)  # the latest policy check (measurement.policy_check)
        if not cleared:
            get_run_logger().info(
                "uplift model: version %s, but the policy check says %s; targeting by risk", version, reason
            )
            return None
        get_run_logger().info("uplift model: version %s (@champion), cleared by the policy check", version)
        return score_uplift(wh, model, as_of)


@task(name="decide-and-send")
def decide_and_send(
    as_of: datetime, uplift: pd.Series | None, overrides: dict[str, Any] | None
) -> dict[str, Any]:
    """Playbooks × contact policy × holdout; decisions and ledger in one transaction; then delivery."""
    with open_resources(load_settings(overrides)) as r:
        return run_outreach(r.warehouse, r.settings, as_of, uplift=uplift, sender=r.sender)


@flow(
    name="score-and-reach-out",
    flow_run_name=run_name("outreach"),
    task_runner=ThreadPoolTaskRunner(max_workers=2),  # type: ignore[arg-type]  # Prefect 3.8 stub: invariant generic
)
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
