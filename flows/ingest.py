"""Flow: validate (Great Expectations) and load landing files into the warehouse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task

from flows.common import load_settings, migrate_warehouse, resolve_as_of
from proactive_ml.ingest.files import ingest_path
from proactive_ml.resources import open_resources


@task(name="validate-and-load")
def validate_and_load(landing: str, as_of: str | None, overrides: dict[str, Any] | None) -> dict[str, int]:
    """Each file: GX validation first, then one transaction (valid rows + quarantine), or a fail-closed stop."""
    with open_resources(load_settings(overrides)) as r:
        summary = ingest_path(r.warehouse, Path(landing), r.settings, resolve_as_of(as_of))
    return {
        "loaded": summary.loaded,
        "skipped": summary.skipped,
        "inserted": summary.inserted,
        "quarantined": summary.quarantined,
    }


@flow(name="ingest-and-validate")
def ingest_flow(
    landing: str | None = None, as_of: str | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, int]:
    """Validate and load every new landing file (default folder: <data_dir>/landing)."""
    s = load_settings(overrides)
    migrate_warehouse(s)
    result = validate_and_load(landing or str(s.landing_dir), as_of, overrides)
    get_run_logger().info("ingest: %s", result)
    return result


if __name__ == "__main__":
    ingest_flow()
