"""Ingestion: idempotent, transactional per file, clear errors naming file, line and column."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest

from proactive_ml.errors import GateFailure, IngestError
from proactive_ml.ingest.files import discover, ingest_path, warehouse_summary
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "landing"
AS_OF = datetime(2026, 1, 2)


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    dst = tmp_path / "landing"
    shutil.copytree(SAMPLES, dst)
    return dst


def _counts(wh: Warehouse) -> dict[str, int]:
    return dict(zip(*warehouse_summary(wh)[["dataset", "rows"]].T.values, strict=True))


def test_discover_orders_customers_first(landing: Path) -> None:
    names = [ds for ds, _ in discover(landing)]
    assert names == ["customers", "usage_events", "feedback", "tickets"]


def test_ingest_loads_every_row_and_types_them(wh: Warehouse, landing: Path, settings: Settings) -> None:
    summary = ingest_path(wh, landing, settings, AS_OF)
    assert summary.loaded == 4
    assert summary.quarantined == 0
    assert _counts(wh) == {"customers": 3, "usage_events": 5, "feedback": 2, "tickets": 2}
    c = wh.query("SELECT * FROM customers ORDER BY customer_id")
    assert c["name"][1] == "Bo Chen, Jr"
    assert c["monthly_revenue"].tolist() == [99.0, 29.0, 1200.0]
    assert c["marketing_consent"].tolist() == [True, True, False]
    assert str(c["cancelled_at"][2]) == "2026-01-01 09:30:00"
    assert int(wh.scalar("SELECT sum(quantity) FROM usage_events")) == 129


def test_reingesting_the_same_folder_changes_nothing(
    wh: Warehouse, landing: Path, settings: Settings
) -> None:
    ingest_path(wh, landing, settings, AS_OF)
    before = _counts(wh)
    again = ingest_path(wh, landing, settings, AS_OF)
    assert again.skipped == 4
    assert again.inserted == 0
    assert _counts(wh) == before
    # same rows under a new file name: natural keys keep them out
    (landing / "usage_events" / "2026-01-01-copy.csv").write_text(
        (landing / "usage_events" / "2026-01-01.csv").read_text().replace("\n", "\r\n")
    )
    third = ingest_path(wh, landing, settings, AS_OF)
    assert third.loaded == 1
    assert third.inserted == 0
    assert _counts(wh) == before


def test_a_later_customer_row_replaces_the_old_one(wh: Warehouse, landing: Path, settings: Settings) -> None:
    ingest_path(wh, landing, settings, AS_OF)
    (landing / "customers" / "2026-01-05.csv").write_text(
        "customer_id,email,name,plan,signup_date,country,timezone,monthly_revenue,marketing_consent,cancelled_at\n"
        "C0001,ana@example.com,Ana Silva,pro,2025-03-04,PT,Europe/Lisbon,99.0,true,2026-01-05T10:00:00\n"
    )
    ingest_path(wh, landing, settings, datetime(2026, 1, 6))
    c = wh.query("SELECT customer_id, cancelled_at FROM customers ORDER BY customer_id")
    assert len(c) == 3
    assert str(c["cancelled_at"][0]) == "2026-01-05 10:00:00"


@pytest.mark.parametrize(
    ("content", "line", "column"),
    [
        # missing (renamed) column -> header line, the missing column named
        (b"customer_id,when,feature,quantity\nC0001,2026-01-01T08:00:00,login,1\n", 1, "ts"),
        # truncated last line
        (b"customer_id,ts,feature,quantity\nC0001,2026-01-01T08:00:00,login,1\nC0002,2026-01-01T0", 3, None),
    ],
    ids=["missing-column", "truncated-last-line"],
)
def test_structurally_malformed_file_is_refused_and_nothing_written(
    wh: Warehouse, landing: Path, settings: Settings, content: bytes, line: int, column: str | None
) -> None:
    ingest_path(wh, landing, settings, AS_OF)
    before = _counts(wh)
    bad = landing / "usage_events" / "2026-01-02.csv"
    bad.write_bytes(content)
    with pytest.raises(IngestError) as err:
        ingest_path(wh, landing, settings, AS_OF)
    assert err.value.path == str(bad)
    assert err.value.line == line
    assert str(bad) in str(err.value)
    assert f"line {line}" in str(err.value)
    if column:
        assert err.value.column == column
        assert repr(column) in str(err.value)
    assert _counts(wh) == before


@pytest.mark.parametrize(
    ("row", "column"),
    [
        (b"C0001,2026-13-45T08:00:00,login,1\n", "ts"),  # bad date
        (b"C0001,2026-01-01T08:00:00,log\xff\xfein,1\n", "feature"),  # non-UTF-8 bytes
    ],
    ids=["bad-date", "non-utf8"],
)
def test_bad_rows_refuse_a_small_file_naming_file_line_and_column(
    wh: Warehouse, landing: Path, settings: Settings, row: bytes, column: str
) -> None:
    ingest_path(wh, landing, settings, AS_OF)
    before = _counts(wh)
    bad = landing / "usage_events" / "2026-01-02.csv"
    bad.write_bytes(b"customer_id,ts,feature,quantity\nC0002,2026-01-01T09:00:00,login,1\n" + row)
    with pytest.raises(GateFailure) as err:
        ingest_path(wh, landing, settings, AS_OF)
    msg = str(err.value)
    assert str(bad) in msg
    assert "line 3" in msg
    assert repr(column) in msg
    assert _counts(wh) == before


def test_empty_file_is_refused(wh: Warehouse, landing: Path, settings: Settings) -> None:
    (landing / "feedback" / "2026-01-02.csv").write_bytes(b"")
    with pytest.raises(IngestError, match="empty"):
        ingest_path(wh, landing, settings, AS_OF)


def test_parquet_and_jsonl_load_like_csv(wh: Warehouse, tmp_path: Path, settings: Settings) -> None:
    import pandas as pd

    land = tmp_path / "l2"
    (land / "customers").mkdir(parents=True)
    (land / "usage_events").mkdir(parents=True)
    cust = pd.read_csv(SAMPLES / "customers" / "2026-01-01.csv", dtype=str)
    cust.to_json(land / "customers" / "a.jsonl", orient="records", lines=True)
    ev = pd.read_csv(SAMPLES / "usage_events" / "2026-01-01.csv", parse_dates=["ts"])
    ev.to_parquet(land / "usage_events" / "a.parquet")
    s = ingest_path(wh, land, settings, AS_OF)
    assert s.loaded == 2
    assert _counts(wh)["usage_events"] == 5
    assert _counts(wh)["customers"] == 3
