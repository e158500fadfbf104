"""A file of several chunks is written while it is validated: still one transaction, all of it or nothing."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from proactive_ml.contract import Dataset
from proactive_ml.errors import GateFailure
from proactive_ml.ingest import files, writer
from proactive_ml.ingest.files import ingest_path
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse

AS_OF = datetime(2026, 1, 2)
CUSTOMERS = (
    "customer_id,email,name,plan,signup_date,country,timezone,monthly_revenue,marketing_consent\n"
    + "".join(
        f"C{i:04d},c{i}@example.com,Name {i},pro,2025-03-04,PT,Europe/Lisbon,99.0,true\n" for i in range(20)
    )
)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Chunks of 100 rows, written 150 rows at a time: a 350-row file takes the streamed path.

    Returns the sizes of the writes the writer thread made.
    """
    monkeypatch.setattr(files, "STREAM_ROWS", 100)
    monkeypatch.setattr(writer, "WRITE_ROWS", 150)
    sizes: list[int] = []
    write = files._write_valid

    def counted(wh: Warehouse, ds: Dataset, valid: pd.DataFrame) -> int:
        if threading.current_thread().name == "ingest-writer":
            sizes.append(len(valid))
        return write(wh, ds, valid)

    monkeypatch.setattr(files, "_write_valid", counted)
    return sizes


def _landing(tmp_path: Path, rows: list[str]) -> Path:
    root = tmp_path / "landing"
    (root / "customers").mkdir(parents=True)
    (root / "usage_events").mkdir()
    (root / "customers" / "2026-01-01.csv").write_text(CUSTOMERS)
    body = "customer_id,ts,feature,quantity\n" + "".join(r + "\n" for r in rows)
    (root / "usage_events" / "2026-01-01.csv").write_text(body)
    return root


def _events(n: int) -> list[str]:
    return [f"C{i % 20:04d},2026-01-01T{i // 60 % 24:02d}:{i % 60:02d}:00,login,1" for i in range(n)]


def test_a_streamed_file_loads_every_valid_row_and_quarantines_the_rest(
    wh: Warehouse, tmp_path: Path, settings: Settings, small_chunks: list[int]
) -> None:
    rows = _events(350)
    rows[40] = rows[260]  # a key seen in a later chunk again: the later row is the duplicate
    rows[300] = "C9999,2026-01-01T23:59:00,login,1"  # no such customer
    summary = ingest_path(wh, _landing(tmp_path, rows), settings, AS_OF)
    usage = next(f for f in summary.files if f.dataset == "usage_events")
    assert (usage.rows, usage.inserted, usage.quarantined) == (350, 348, 2)
    assert wh.row_count("usage_events") == 348
    lines = wh.query("SELECT source_line FROM quarantine ORDER BY source_line")["source_line"].tolist()
    assert lines == [262, 302]  # physical lines (header is line 1)
    log = wh.query("SELECT rows, valid_rows, quarantined_rows FROM ingest_log WHERE dataset = 'usage_events'")
    assert log.iloc[0].tolist() == [350, 348, 2]
    assert small_chunks == [200, 148]  # two chunks, then the rest: written by the writer thread


def test_a_streamed_file_refused_by_a_gate_leaves_no_row(
    wh: Warehouse, tmp_path: Path, settings: Settings
) -> None:
    rows = _events(350)
    for i in range(250, 350):  # the last chunks: unknown customers, far above the quarantine share
        rows[i] = rows[i].replace(rows[i][:5], "C9999")
    with pytest.raises(GateFailure, match="quarantine_share"):
        ingest_path(wh, _landing(tmp_path, rows), settings, AS_OF)
    assert wh.row_count("usage_events") == 0  # the chunks written before the gate were rolled back
    assert wh.scalar("SELECT count(*) FROM ingest_log WHERE dataset = 'usage_events'") == 0
    runs = wh.query("SELECT success FROM validation_runs WHERE dataset = 'usage_events'")
    assert runs["success"].tolist() == [False]  # the refusal is on record
