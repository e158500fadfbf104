"""Flow: point-in-time features, train candidates per target, log to MLflow, promote by alias."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.task_runners import ThreadPoolTaskRunner

from flows.common import is_transient, load_settings, migrate_warehouse, resolve_as_of
from proactive_ml.warehouse import Warehouse


@task(name="train-and-register", retries=2, retry_delay_seconds=5, retry_condition_fn=is_transient)
def train_target(
    target: str, as_of: str | None, overrides: dict[str, Any] | None, training: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Train every candidate for one target; the best becomes @challenger, and @champion only if it wins."""
    from proactive_ml.modeling.train import train_and_register

    s = load_settings(overrides)
    with Warehouse.connect(s.resolved_warehouse_url) as wh:
        return train_and_register(wh, s, resolve_as_of(as_of).date(), target=target, training=training)


@flow(name="train-and-register", task_runner=ThreadPoolTaskRunner(max_workers=2))  # type: ignore[arg-type]  # Prefect 3.8 stub: runner generic is invariant
def train_flow(
    targets: list[str] | None = None,
    as_of: str | None = None,
    overrides: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Retrain the churn and need models as of a date (``training`` overrides models/candidates.yaml's block)."""
    migrate_warehouse(load_settings(overrides))
    # The targets train side by side: fitting and prediction release the GIL, so two threads use both cores.
    futures = {t: train_target.submit(t, as_of, overrides, training) for t in (targets or ["churn", "need"])}
    out = {t: f.result() for t, f in futures.items()}
    get_run_logger().info("training: %s", {t: r.get("promoted") for t, r in out.items()})
    return out


if __name__ == "__main__":
    train_flow()
