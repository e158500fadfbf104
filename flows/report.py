"""Flow: measure impact (treated vs holdout), run the policy check, and write the success report."""

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


def check_targeting(as_of: str | None, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The policy check (risk vs uplift targeting, doubly robust, on the logged decisions); its stored verdict."""
    from proactive_ml.measurement.policy_check import run_policy_check, verdict_row

    with open_resources(load_settings(overrides)) as r:
        day = resolve_as_of(as_of).date()
        return verdict_row(day, run_policy_check(r.warehouse, r.settings, day))


@task(name="policy-check", retries=2, retry_delay_seconds=5, retry_condition_fn=is_transient)
def policy_check(as_of: str | None, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """May outreach target by uplift? Judged after impact, kept for the outreach flow, logged to MLflow."""
    verdict = check_targeting(as_of, overrides)
    get_run_logger().info("policy check: targeting by %s (%s)", verdict["targeting"], verdict["reason"])
    return verdict


@task(name="write-report")
def write(as_of: str | None, overrides: dict[str, Any] | None) -> str:
    """The HTML success report; returns its path."""
    from proactive_ml.measurement.report import write_report

    with open_resources(load_settings(overrides)) as r:
        return str(write_report(r.warehouse, r.settings, resolve_as_of(as_of).date()))


@flow(name="report", flow_run_name=run_name("report"))
def report_flow(as_of: str | None = None, overrides: dict[str, Any] | None = None) -> str:
    """Impact first, then the policy check (may outreach target by uplift?), then the report that shows both."""
    settings = load_settings(overrides)
    migrate_warehouse(settings)
    require_customers(settings, "report")
    impact(as_of, overrides)
    policy_check(as_of, overrides)
    path = write(as_of, overrides)
    get_run_logger().info("report: %s", path)
    return path


if __name__ == "__main__":
    report_flow()
