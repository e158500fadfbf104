"""Flow: measure impact (treated vs holdout) and write the success report."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task

from flows.common import is_transient, load_settings, migrate_warehouse, resolve_as_of
from proactive_ml.warehouse import Warehouse


@task(name="measure-impact", retries=2, retry_delay_seconds=5, retry_condition_fn=is_transient)
def impact(as_of: str | None, overrides: dict[str, Any] | None) -> int:
    """Treated vs holdout per playbook, with intervals; logged to MLflow and kept as history."""
    from proactive_ml.measurement.impact import measure_impact

    s = load_settings(overrides)
    with Warehouse.connect(s.resolved_warehouse_url) as wh:
        return len(measure_impact(wh, resolve_as_of(as_of).date(), s))


@task(name="write-report")
def write(as_of: str | None, overrides: dict[str, Any] | None) -> str:
    """The HTML success report; returns its path."""
    from proactive_ml.measurement.report import write_report

    s = load_settings(overrides)
    with Warehouse.connect(s.resolved_warehouse_url) as wh:
        return str(write_report(wh, s, resolve_as_of(as_of).date()))


@flow(name="report")
def report_flow(as_of: str | None = None, overrides: dict[str, Any] | None = None) -> str:
    """Impact first, then the report that shows it."""
    migrate_warehouse(load_settings(overrides))
    impact(as_of, overrides)
    path = write(as_of, overrides)
    get_run_logger().info("report: %s", path)
    return path


if __name__ == "__main__":
    report_flow()
