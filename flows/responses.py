"""Flow: validate, dedupe and attribute stored webhook events, replies and ratings; update suppressions."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task

from flows.common import load_settings, migrate_warehouse, resolve_as_of, run_name
from proactive_ml.resources import open_resources


@task(name="process-responses")
def process(as_of: str | None, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """GX validation of the stored requests comes first, inside ``process_responses``."""
    from proactive_ml.responses.processing import process_responses

    with open_resources(load_settings(overrides)) as r:
        return process_responses(r.warehouse, r.settings, resolve_as_of(as_of))


@flow(name="ingest-responses", flow_run_name=run_name("responses"))
def responses_flow(as_of: str | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Take in what came back from customers since the last run."""
    migrate_warehouse(load_settings(overrides))
    result = process(as_of, overrides)
    get_run_logger().info("responses: %s", result)
    return result


if __name__ == "__main__":
    responses_flow()
