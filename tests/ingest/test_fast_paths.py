"""The bulk paths of ingestion: Parquet read as Arrow text, rows loaded as one Arrow table (DuckDB scan,
PostgreSQL COPY), foreign keys looked up once per batch. Same rows, same quarantine, all or nothing."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from proactive_ml.contract import DATASETS
from proactive_ml.ingest.files import ingest_path
from proactive_ml.ingest.landing import _as_text, read_raw
from proactive_ml.settings import Settings
from proactive_ml.validation import validate_batch, validate_stream
from proactive_ml.warehouse import Warehouse, engine, open_warehouse

AS_OF = datetime(2026, 1, 3)
USAGE = DATASETS["usage_events"]


def _customers(land: Path, ids: list[str]) -> None:
    (land / "customers").mkdir(parents=True)
    pd.DataFrame({"customer_id": ids, "signup_date": ["2025-06-01"] * len(ids)}).to_csv(
        land / "customers" / "2026-01-01.csv", index=False
    )


def _usage_file(path: Path) -> pd.DataFrame:
    """40 usage rows (Parquet, native types) with known defects on known lines."""
    n = 40
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i % 4}" for i in range(n)],
            "ts": pd.Timestamp("2026-01-02") + pd.to_timedelta(np.arange(n) * 60, unit="s"),
            "feature": ["login"] * n,
            "quantity": np.arange(n, dtype=np.int64) % 7,
            "value": np.round(np.linspace(0.5, 20.0, n), 2),
        }
    )
    frame.loc[5, "quantity"] = -3  # a negative count: line 6
    frame.loc[9, "customer_id"] = "c-unknown"  # no such customer: line 10
    frame.loc[12, "feature"] = "log\x00in"  # a NUL byte: line 13
    frame.loc[20, "value"] = np.nan  # missing value: fine
    frame.loc[30] = frame.loc[29]  # a repeated key: line 31
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return frame


def test_parquet_text_is_what_python_str_gave(tmp_path: Path) -> None:
    """The Arrow rendering of every type equals the former per-value path (pandas, then str())."""
    rng = np.random.default_rng(7)
    floats = rng.random(2_000) * 10.0 ** rng.integers(-8, 20, 2_000)
    n = len(floats)
    table = pa.table(
        {
            "customer_id": pa.array([f"c{i}" if i % 9 else None for i in range(n)]),
            "ts": pa.array(
                pd.Timestamp("2026-01-01 09:30:01.7", tz="Europe/Berlin")
                + pd.to_timedelta(np.arange(n), unit="h")
            ),
            "feature": pa.array(["login", ""] * (n // 2)),
            "quantity": pa.array(np.arange(n, dtype=np.int64) - 5),
            "value": pa.array(
                np.where(np.arange(n) % 13 == 0, np.nan, floats) * np.where(np.arange(n) % 2, 1, -1)
            ),
            "event_id": pa.array([True, False, None, True] * (n // 4)),
        }
    )
    path = tmp_path / "usage_events.parquet"
    pq.write_table(table, path)
    fast = read_raw(path, USAGE)
    slow = _as_text(pd.read_parquet(io.BytesIO(path.read_bytes())).reindex(columns=USAGE.column_names))
    for col in USAGE.column_names:
        want = [None if v is None else v for v in slow[col].tolist()]
        got = [None if not isinstance(v, str) else v for v in fast[col].tolist()]
        assert got == want, col
    assert fast["_line"].tolist() == list(range(1, n + 1))


def _tolerant_landing(settings: Settings, tmp_path: Path) -> tuple[Settings, Path]:
    """Settings that keep 4 defects in 40 rows out instead of refusing the file; a landing with 4 customers."""
    land = tmp_path / "land"
    _customers(land, ["c0", "c1", "c2", "c3"])
    return settings.model_copy(update={"quarantine_max_share": 0.2}), land


def test_parquet_rows_and_quarantine_on_both_backends(
    wh: Warehouse, tmp_path: Path, settings: Settings
) -> None:
    settings, land = _tolerant_landing(settings, tmp_path)
    frame = _usage_file(land / "usage_events" / "2026-01-02.parquet")
    summary = ingest_path(wh, land, settings, AS_OF)
    assert summary.quarantined == 4
    lines = wh.query("SELECT source_line, reason FROM quarantine ORDER BY source_line")
    assert lines["source_line"].tolist() == [6, 10, 13, 31]
    assert "NUL byte" in lines["reason"][2]
    stored = wh.query("SELECT customer_id, ts, feature, quantity, value FROM usage_events ORDER BY ts")
    keep = frame.drop(index=[5, 9, 12, 30]).sort_values("ts").reset_index(drop=True)
    assert stored["customer_id"].tolist() == keep["customer_id"].tolist()
    assert stored["quantity"].astype(int).tolist() == keep["quantity"].tolist()
    assert pd.to_datetime(stored["ts"]).tolist() == keep["ts"].tolist()
    values = stored["value"].astype(float).tolist()
    assert np.isnan(values[keep.index[keep["value"].isna()][0]])
    assert np.allclose(np.nan_to_num(values), np.nan_to_num(keep["value"].to_numpy()))
    assert summary.files[-1].inserted == len(keep)
    # the same rows again under another name: the natural keys keep every one of them out
    again = land / "usage_events" / "2026-01-02-again.parquet"
    _usage_file(again)
    assert ingest_path(wh, again.parent, settings, AS_OF).inserted == 0


def test_a_copy_failing_midway_writes_nothing(
    pg_url: str, tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: slices already sent to COPY are rolled back with the rest of the file's transaction."""
    settings, land = _tolerant_landing(settings, tmp_path)
    _usage_file(land / "usage_events" / "2026-01-02.parquet")
    real, calls = engine.pacsv.write_csv, []

    def failing_after_two_slices(*args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full while rendering the third slice")
        real(*args, **kwargs)

    with open_warehouse(pg_url) as wh:
        ingest_path(wh, land / "customers", settings, AS_OF)
        monkeypatch.setattr(engine, "COPY_SLICE_ROWS", 5)
        monkeypatch.setattr(engine.pacsv, "write_csv", failing_after_two_slices)
        with pytest.raises(OSError, match="third slice"):
            ingest_path(wh, land / "usage_events", settings, AS_OF)
        assert wh.row_count("usage_events") == 0
        assert wh.row_count("quarantine") == 0
        assert wh.scalar("SELECT count(*) FROM ingest_log WHERE dataset = 'usage_events'") == 0
        assert len(calls) == 3  # two slices were sent before the failure
        monkeypatch.setattr(engine.pacsv, "write_csv", real)
        assert ingest_path(wh, land / "usage_events", settings, AS_OF).inserted == 36  # a retry loads it all


def test_text_column_keeps_empty_text_apart_from_null(wh: Warehouse) -> None:
    wh.execute("CREATE TABLE t_ids (id TEXT)")
    wh.insert_frame("t_ids", pd.DataFrame({"id": ["a,b", 'say "hi"', "", None, "x"]}))
    got = wh.text_column("SELECT id FROM t_ids ORDER BY id NULLS LAST").to_pylist()
    assert got == ["", "a,b", 'say "hi"', "x", None]


def test_foreign_keys_looked_up_once_per_batch_equal_per_chunk(duck: Warehouse, settings: Settings) -> None:
    duck.insert_frame(
        "customers", pd.DataFrame({"customer_id": ["a", "b"], "signup_date": [date(2025, 1, 1)] * 2})
    )
    raw = pd.DataFrame(
        {
            "customer_id": ["a", "zz", "b", None, "zz", "a", "q"] * 3,
            "ts": [f"2026-01-02T0{i % 10}:00:0{i % 7}" for i in range(21)],
            "feature": ["login"] * 21,
            "quantity": ["1"] * 21,
        }
    )
    raw["_line"] = np.arange(2, 23)
    raw["_decode_error"] = False
    args = (duck, "usage_events", raw, "u.csv", AS_OF, settings)
    whole = validate_batch(*args, chunk_rows=4, record=False, gates=False)
    chunks = [raw.iloc[i : i + 4] for i in range(0, len(raw), 4)]
    per_chunk = validate_stream(
        duck, "usage_events", chunks, "u.csv", AS_OF, settings, record=False, gates=False
    )
    assert whole.quarantined["source_line"].tolist() == per_chunk.quarantined["source_line"].tolist()
    assert whole.quarantined["reason"].tolist() == per_chunk.quarantined["reason"].tolist()
    assert len(whole.valid) == len(per_chunk.valid) > 0


@pytest.mark.parametrize(
    "values",
    [["a", "b", None], ["a\x00", "b"], [None, None], [], ["x" * 100, "\x00"], ["é\x00é", "ü"]],
)
def test_has_nul_matches_the_per_value_check(values: list[str | None]) -> None:
    """The buffer scan for NUL bytes answers as the per-value substring match did (also on slices)."""
    import pyarrow.compute as pc

    from proactive_ml.ingest.arrow_text import has_nul

    arr = pa.array(values, type=pa.string())
    for a in (arr, arr.slice(1), pa.chunked_array([arr, arr]), arr.cast(pa.large_string())):
        assert has_nul(a) is bool(pc.any(pc.match_substring(a, "\x00")).as_py())
