"""Flow: validate (Great Expectations) and load landing files into the warehouse.

With the ``sources_file`` setting (a company's ``sources.yaml``) the files its mapping claims are loaded
(:func:`~proactive_ml.ingest.sources.ingest_sources`; ``landing`` then overrides the mapping's ``landing_dir``);
without it, today's landing-folder convention (one sub-folder per dataset).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task

from flows.common import load_settings, migrate_warehouse, resolve_as_of, run_name
from proactive_ml.errors import UserError
from proactive_ml.ingest.files import ingest_path
from proactive_ml.ingest.sources import ingest_sources, resolve_sources
from proactive_ml.resources import open_resources


@task(name="validate-and-load")
def validate_and_load(
    landing: str | None, as_of: str | None, overrides: dict[str, Any] | None
) -> dict[str, int]:
    """Each file: GX validation first, then one transaction (valid rows + quarantine), or a fail-closed stop."""
    with open_resources(load_settings(overrides)) as r:
        config = resolve_sources(r.settings)
        when = resolve_as_of(as_of)
        if config is not None:
            folder = Path(landing) if landing else None
            summary = ingest_sources(r.warehouse, config, r.settings, when, landing=folder)
        else:
            summary = ingest_path(r.warehouse, Path(landing or r.settings.landing_dir), r.settings, when)
        if not (summary.loaded or summary.skipped):  # not "nothing new": nothing at all
            where = landing or (config.landing_dir if config is not None else r.settings.landing_dir)
            raise UserError(
                f"no landing file found in {where}: nothing to ingest. Is the data folder right? "
                f"(PROACTIVE_DATA_DIR, now {r.settings.data_dir}; a deployment sets it in its job variables: "
                "see prefect.yaml)"
            )
    return {
        "loaded": summary.loaded,
        "skipped": summary.skipped,
        "inserted": summary.inserted,
        "quarantined": summary.quarantined,
    }


@flow(name="ingest-and-validate", flow_run_name=run_name("ingest"))
def ingest_flow(
    landing: str | None = None, as_of: str | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, int]:
    """Validate and load every new file: the sources_file mapping's when set, else <data_dir>/landing's."""
    migrate_warehouse(load_settings(overrides))
    result = validate_and_load(landing, as_of, overrides)
    get_run_logger().info("ingest: %s", result)
    return result


if __name__ == "__main__":
    ingest_flow()
