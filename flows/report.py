"""Flow: measure impact (treated vs holdout) and write the success report."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task

from flows.common import (
    is_transient,
    load_settings,
    migrate_warehouse,
    require_customers,
    resolve_as_of,
    run_name,
)
from proactive_ml.resources import open_resources


@task(name="measure-impact", retries=2, retry_delay_seconds=5, retry_condition_fn=is_transient)
def impact(as_of: str | None, overrides: dict[str, Any] | None) -> int:
    """Treated vs holdout per playbook, with intervals; logged to MLflow and kept as history."""
    from proactive_ml.measurement.impact import measure_impact

    with open_resources(load_settings(overrides)) as r:
        return len(measure_impact(r.warehouse, resolve_as_of(as_of).date(), r.settings))


@task(name="write-report")
def write(as_of: str | None, overrides: dict[str, Any] | None) -> str:
    """The HTML success report; returns its path."""
    from proactive_ml.measurement.report import write_report

    with open_resources(load_settings(overrides)) as r:
        return str(write_report(r.warehouse, r.settings, resolve_as_of(as_of).date()))


@flow(name="report", flow_run_name=run_name("report"))
def report_flow(as_of: str | None = None, overrides: dict[str, Any] | None = None) -> str:
    """Impact first, then the report that shows it."""
    settings = load_settings(overrides)
    migrate_warehouse(settings)
    require_customers(settings, "report")
    impact(as_of, overrides)
    path = write(as_of, overrides)
    get_run_logger().info("report: %s", path)
    return path


if __name__ == "__main__":
    report_flow()
