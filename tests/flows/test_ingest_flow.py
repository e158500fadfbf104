"""The ingest flow runs for real under Prefect and loads the sample landing folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows.ingest import ingest_flow
from proactive_ml.warehouse import Warehouse

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "landing"


def test_ingest_flow_loads_and_is_idempotent(prefect_harness: None, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLES, landing)
    overrides = {"data_dir": str(tmp_path / "data")}
    first = ingest_flow(landing=str(landing), as_of="2026-01-02T00:00:00", overrides=overrides)
    second = ingest_flow(landing=str(landing), as_of="2026-01-02T00:00:00", overrides=overrides)
    assert first["loaded"] == 4
    assert first["inserted"] == 12
    assert second["loaded"] == 0
    assert second["skipped"] == 4
    with Warehouse.connect(f"duckdb:///{tmp_path / 'data' / 'warehouse.duckdb'}") as wh:
        assert wh.row_count("usage_events") == 5


def test_ingest_flow_uses_the_sources_file_setting(prefect_harness: None, tmp_path: Path) -> None:
    from proactive_ml.sim.companies.snapshot import write_snapshot

    write_snapshot(tmp_path / "crm", n_customers=50, seed=1)
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        f"company: tiny\nlanding_dir: {tmp_path / 'crm'}\ndatasets:\n  customers:\n    files: 'crm_export_*.csv'\n"
        "    format: csv\n    delimiter: ';'\n    encoding: latin-1\n    decimal: ','\n    header: true\n"
        "    columns: {customer_id: CustomerNo, plan: Contract, signup_date: {from: CustomerSince, format: '%d.%m.%Y'}}\n",
        encoding="utf-8",
    )
    overrides = {"data_dir": str(tmp_path / "data"), "sources_file": str(sources)}
    result = ingest_flow(as_of="2026-07-01T00:00:00", overrides=overrides)
    assert result["loaded"] == 1
    with Warehouse.connect(f"duckdb:///{tmp_path / 'data' / 'warehouse.duckdb'}") as wh:
        assert wh.row_count("customers") == 50


def test_ingest_with_no_landing_file_fails_and_says_so(tmp_path: Path) -> None:
    """A run on an empty data folder (a deployment without its data) fails instead of an empty success."""
    from flows.ingest import validate_and_load
    from proactive_ml.errors import UserError

    (tmp_path / "data" / "landing").mkdir(parents=True)
    with pytest.raises(UserError, match="no landing file found in .*PROACTIVE_DATA_DIR"):
        validate_and_load.fn(None, "2026-01-02T00:00:00", {"data_dir": str(tmp_path / "data")})
