"""The ingest flow runs for real under Prefect and loads the sample landing folder."""

from __future__ import annotations

import shutil
from pathlib import Path

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
