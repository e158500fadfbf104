"""Ingest diagnostics under attack (issue 16, item 5): one clear error naming file, line and column.

A 131,072+ character field, a duplicated header column, a JSON line nested 100k deep and a sparse file without a
line break each refuse the file with an :class:`IngestError` (no traceback); a quoted line break in the last row is
no "truncated" line, and a blank line does not shift the line numbers quarantine reports.
"""

from __future__ import annotations

import tracemalloc
from datetime import datetime
from pathlib import Path

import pytest

from proactive_ml.contract import DATASETS
from proactive_ml.errors import GateFailure, IngestError
from proactive_ml.ingest.files import ingest_path
from proactive_ml.ingest.landing import read_raw
from proactive_ml.ingest.mapping import load_sources
from proactive_ml.ingest.readers import read_source
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse

EVENTS = DATASETS["usage_events"]
HEADER = b"customer_id,ts,feature,quantity\n"
ROW = b"C0001,2026-01-01T08:00:00,login,1\n"
DEEP = 100_000
MAX_FIELD_CHARS = 131_072  # the attack: one character past Python csv's field limit


def _file(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / "usage_events" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _refusal(path: Path) -> IngestError:
    with pytest.raises(IngestError) as err:
        read_raw(path, EVENTS)
    assert str(path) in str(err.value)
    return err.value


@pytest.mark.parametrize("where", ["middle", "last"])
def test_a_field_longer_than_the_csv_limit_names_line_and_column(tmp_path: Path, where: str) -> None:
    long = b"C0002,2026-01-01T08:00:00," + b"x" * (MAX_FIELD_CHARS + 1) + b",1\n"
    body = HEADER + ROW + (long + ROW if where == "middle" else ROW + long)
    err = _refusal(_file(tmp_path, "long.csv", body))
    assert (err.line, err.column) == ((3 if where == "middle" else 4), "feature")
    assert f"{MAX_FIELD_CHARS:,}" in str(err)


def test_a_duplicated_header_column_is_reported_as_such(tmp_path: Path) -> None:
    err = _refusal(_file(tmp_path, "dup.csv", b"customer_id,ts,feature,feature,quantity\n" + ROW))
    assert (err.line, err.column) == (1, "feature")
    assert "duplicated header" in str(err)
    assert "truncated" not in str(err)


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
def test_a_json_line_nested_100k_deep_names_line_and_column(tmp_path: Path, suffix: str) -> None:
    good = b'{"customer_id": "C1", "ts": "2026-01-01T08:00:00", "feature": "login", "quantity": 1}\n'
    deep = b'{"customer_id": "C1", "ts": ' + b"[" * DEEP + b"]" * DEEP + b"}\n"
    err = _refusal(_file(tmp_path, "deep" + suffix, good + deep))
    assert err.line == 2
    assert "nested too deeply" in str(err)
    assert "at column 528" in str(err)  # nesting passes 500 levels there: the "{" is level 1, then 500 "["


def test_a_quoted_line_break_in_the_last_row_is_not_truncated(tmp_path: Path) -> None:
    body = HEADER + ROW + b'C0002,2026-01-01T09:00:00,"multi\nline feature",2\n'
    raw = read_raw(_file(tmp_path, "quoted.csv", body), EVENTS)
    assert raw["feature"].tolist() == ["login", "multi\nline feature"]
    assert raw["_line"].tolist() == [2, 3]
    # and a last row that really is cut off inside its quote still is
    err = _refusal(_file(tmp_path, "cut.csv", HEADER + ROW + b'C0002,2026-01-01T09:00:00,"multi\nline fea'))
    assert "truncated" in str(err)
    assert err.line == 3


def test_blank_lines_do_not_shift_line_numbers(tmp_path: Path) -> None:
    body = (
        HEADER
        + ROW
        + b"\n\r\n"
        + b'C0002,2026-01-01T09:00:00,"a\nb",1\n'
        + b"\n"
        + ROW.replace(b"C0001", b"C0003")
    )
    raw = read_raw(_file(tmp_path, "blank.csv", body), EVENTS)
    assert raw["customer_id"].tolist() == ["C0001", "C0002", "C0003"]
    assert raw["_line"].tolist() == [2, 5, 8]


def test_quarantine_names_the_physical_line_after_a_blank_line(
    duck: Warehouse, tmp_path: Path, settings: Settings
) -> None:
    customers = tmp_path / "landing" / "customers" / "c.csv"
    customers.parent.mkdir(parents=True)
    customers.write_bytes(
        b"customer_id,email,name,plan,signup_date,country,timezone,monthly_revenue,marketing_consent\n"
        b"C0001,a@example.org,A,pro,2025-01-01,DE,Europe/Berlin,10,true\n"
    )
    _file(tmp_path / "landing", "e.csv", HEADER + ROW + b"\n" + b"C0001,2026-13-45T08:00:00,login,1\n")
    with pytest.raises(GateFailure, match=r"e\.csv, line 4, column 'ts'"):
        ingest_path(duck, tmp_path / "landing", settings, datetime(2026, 1, 2))


def test_a_sparse_file_without_line_breaks_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    from proactive_ml.ingest.landing import MAX_LINE_BYTES

    path = _file(tmp_path, "sparse.csv", b"")
    with open(path, "wb") as f:
        f.truncate(256 << 20)  # 256 MB of NUL bytes, no line break (a 2 GB one behaves the same)
    tracemalloc.start()
    try:
        err = _refusal(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.line == 1
    assert f"{MAX_LINE_BYTES:,}" in str(err)
    assert peak < 4 * MAX_LINE_BYTES  # bounded by the line limit, not by the 256 MB file


def test_mapped_sources_get_the_same_diagnostics(tmp_path: Path) -> None:
    landing = tmp_path / "company"
    landing.mkdir()
    (landing / "sources.yaml").write_text(
        f"company: x\nlanding_dir: {landing}\ndatasets:\n"
        "  usage_events:\n    files: [ev.csv]\n    format: csv\n    columns:\n"
        "      customer_id: customer_id\n      ts: ts\n      feature: feature\n"
        "  customers:\n    files: [c.jsonl]\n    format: jsonl\n    columns:\n"
        "      customer_id: id\n      signup_date: since\n"
    )
    config = load_sources(landing / "sources.yaml")
    (landing / "ev.csv").write_bytes(b"customer_id,ts,ts,feature\nC1,2026-01-01,2026-01-01,x\n")
    with pytest.raises(IngestError, match="duplicated header") as err:
        read_source(landing / "ev.csv", config.datasets["usage_events"])
    assert (err.value.line, err.value.column) == (1, "ts")
    (landing / "ev.csv").write_bytes(
        b"customer_id,ts,feature\nC1,2026-01-01," + b"y" * (MAX_FIELD_CHARS + 1) + b"\n"
    )
    with pytest.raises(IngestError, match="characters") as err:
        read_source(landing / "ev.csv", config.datasets["usage_events"])
    assert (err.value.line, err.value.column) == (2, "feature")
    (landing / "c.jsonl").write_bytes(b'{"id": ' + b"[" * DEEP + b"]" * DEEP + b"}\n")
    with pytest.raises(IngestError, match="nested too deeply") as err:
        read_source(landing / "c.jsonl", config.datasets["customers"])
    assert err.value.line == 1


def test_a_quote_inside_an_unquoted_value_is_read_as_before(tmp_path: Path) -> None:
    body = HEADER + b'C0001,2026-01-01T08:00:00,O"Brien report,1\n' + ROW.replace(b"C0001", b"C0002")
    raw = read_raw(_file(tmp_path, "stray.csv", body), EVENTS)
    assert raw["feature"].tolist() == ['O"Brien report', "login"]
    assert raw["_line"].tolist() == [2, 3]


def test_a_long_field_in_a_json_line_names_line_and_column(tmp_path: Path) -> None:
    good = b'{"customer_id": "C1", "ts": "2026-01-01T08:00:00", "feature": "login"}\n'
    long = (
        b'{"customer_id": "C1", "ts": "2026-01-01T08:00:00", "feature": "'
        + b"z" * (MAX_FIELD_CHARS + 1)
        + b'"}\n'
    )
    err = _refusal(_file(tmp_path, "long.jsonl", good + b"\n" + long))
    assert (err.line, err.column) == (3, "feature")


def test_mapped_rows_after_a_quoted_line_break_keep_their_physical_line(tmp_path: Path) -> None:
    landing = tmp_path / "company"
    landing.mkdir()
    (landing / "sources.yaml").write_text(
        f"company: x\nlanding_dir: {landing}\ndatasets:\n"
        "  usage_events:\n    files: [ev.csv]\n    format: csv\n    columns:\n"
        "      customer_id: customer_id\n      ts: ts\n      feature: feature\n"
    )
    config = load_sources(landing / "sources.yaml")
    (landing / "ev.csv").write_bytes(
        b'customer_id,ts,feature\nC1,2026-01-01,"two\nlines"\n\nC2,2026-01-01,login\nC3,2026-01-01,"a ""b"""\n'
    )
    table = read_source(landing / "ev.csv", config.datasets["usage_events"])
    assert table.frame["customer_id"].tolist() == ["C1", "C2", "C3"]
    assert table.frame["_line"].tolist() == [2, 5, 6]
