"""Flow: train the churn and need models and the uplift model, log them to MLflow, promote by alias.

Churn and need: point-in-time features, every declared candidate, the best gated against the champion. Uplift:
the randomized decisions whose outcomes have matured, or the reason it did not train.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.task_runners import ThreadPoolTaskRunner

from flows.common import is_transient, load_settings, migrate_warehouse, resolve_as_of, run_name
from proactive_ml.modeling.train import train_and_register
from proactive_ml.modeling.uplift_training import train_and_register_uplift
from proactive_ml.resources import open_resources


@task(name="train-and-register", retries=2, retry_delay_seconds=5, retry_condition_fn=is_transient)
def train_target(
    target: str, as_of: str | None, overrides: dict[str, Any] | None, training: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Train every candidate for one target; the best becomes @challenger, and @champion only if it wins."""
    with open_resources(load_settings(overrides)) as r:
        return train_and_register(
            r.warehouse, r.settings, resolve_as_of(as_of).date(), target=target, training=training
        )


@task(name="train-uplift", retries=2, retry_delay_seconds=5, retry_condition_fn=is_transient)
def train_uplift(as_of: str | None, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Train, log and register the uplift model when enough randomized outcomes have matured; else say why."""
    with open_resources(load_settings(overrides)) as r:
        out = train_and_register_uplift(r.warehouse, r.settings, resolve_as_of(as_of).date())
    if out["trained"]:
        get_run_logger().info("uplift model: version %s, %s", out["version"], out["reason"])
    else:
        get_run_logger().info("uplift model not trained: %s", out["reason"])
    return out


@flow(
    name="train-and-register",
    flow_run_name=run_name("train"),
    task_runner=ThreadPoolTaskRunner(max_workers=2),  # type: ignore[arg-type]  # Prefect 3.8 stub: invariant generic
)
def train_flow(
    targets: list[str] | None = None,
    as_of: str | None = None,
    overrides: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    uplift: bool = True,
) -> dict[str, Any]:
    """Retrain the churn and need models as of a date, then the uplift model (``uplift=False`` skips it).

    ``training`` overrides models/candidates.yaml's ``training:`` block.
    """
    migrate_warehouse(load_settings(overrides))
    # The targets train side by side: fitting and prediction release the GIL, so two threads use both cores.
    futures = {t: train_target.submit(t, as_of, overrides, training) for t in (targets or ["churn", "need"])}
    out = {t: f.result() for t, f in futures.items()}
    if uplift:
        out["uplift"] = train_uplift(as_of, overrides)
    get_run_logger().info("training: %s", {t: r.get("promoted") for t, r in out.items()})
    return out


if __name__ == "__main__":
    train_flow()
