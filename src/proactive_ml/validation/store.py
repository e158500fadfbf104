"""Edge module: writes and reads of the validation tables ``quarantine`` and ``validation_runs``.

The tables are declared in ``proactive_ml.warehouse.schema``.

SQL in the common subset of DuckDB and PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Any

import pandas as pd

from proactive_ml.warehouse import Warehouse

QUARANTINE_COLUMNS = [
    "dataset",
    "source_file",
    "source_line",
    "column",
    "expectation",
    "reason",
    "raw_row",
    "quarantined_at",
]
# "column" is reserved in SQL: the table calls it column_name
_Q_SQL = [
    "dataset",
    "source_file",
    "source_line",
    "column_name",
    "expectation",
    "reason",
    "raw_row",
    "quarantined_at",
]


def write_quarantine(wh: Warehouse, df: pd.DataFrame) -> int:
    """Insert quarantined rows (columns of :data:`QUARANTINE_COLUMNS`).

    A row already quarantined (same dataset, file and line) is kept as it is. Returns the number of rows handed in.
    Joins an open transaction.
    """
    if df is None or df.empty:
        return 0
    frame = df.rename(columns={"column": "column_name"}).copy()
    if "quarantined_at" not in frame.columns:
        frame["quarantined_at"] = pd.NaT
    frame["source_line"] = frame["source_line"].astype("int64")
    frame["quarantined_at"] = pd.to_datetime(frame["quarantined_at"]).astype("datetime64[us]")
    frame = frame[_Q_SQL]
    cols = ", ".join(_Q_SQL)
    with wh.transaction(), wh.staged(frame, "quarantine_stage") as t:
        wh.execute(f"INSERT INTO quarantine ({cols}) SELECT {cols} FROM {t} ON CONFLICT DO NOTHING")
    return len(frame)


def list_quarantine(wh: Warehouse, dataset: str | None = None) -> pd.DataFrame:
    """Quarantined rows, oldest file first (column ``column`` restored)."""
    where = "WHERE dataset = :d" if dataset else ""
    df = wh.query(
        f"SELECT {', '.join(_Q_SQL)} FROM quarantine {where} ORDER BY dataset, source_file, source_line",
        {"d": dataset} if dataset else None,
    )
    return df.rename(columns={"column_name": "column"})


def delete_quarantined(wh: Warehouse, dataset: str, source_file: str, lines: list[int]) -> int:
    """Remove rows from quarantine (after a successful re-ingest)."""
    if not lines:
        return 0
    keys = pd.DataFrame({"source_line": pd.array(lines, dtype="int64")})
    with wh.transaction(), wh.staged(keys, "quarantine_done") as t:
        wh.execute(
            f"DELETE FROM quarantine WHERE dataset = :d AND source_file = :f "
            f"AND source_line IN (SELECT source_line FROM {t})",
            {"d": dataset, "f": source_file},
        )
    return len(lines)


def _ts(v: datetime | date) -> datetime:
    return v if isinstance(v, datetime) else datetime(v.year, v.month, v.day)


def record_run(
    wh: Warehouse,
    *,
    dataset: str,
    source_file: str,
    kind: str,
    as_of: datetime | date,
    rows: int,
    valid: int,
    quarantined: int,
    success: bool,
    gate_failures: list[dict[str, Any]],
    stats: dict[str, Any],
    docs_path: str,
) -> str:
    """Append one validation run; returns its id."""
    run_id = uuid.uuid4().hex
    with wh.transaction():
        seq = int(
            wh.scalar(
                "SELECT coalesce(max(seq), 0) + 1 FROM validation_runs WHERE dataset = :d", {"d": dataset}
            )
        )
        wh.execute(
            "INSERT INTO validation_runs (run_id, seq, dataset, source_file, kind, as_of, rows, valid, quarantined, "
            "success, gate_failures, stats, docs_path) VALUES (:run_id, :seq, :dataset, :source_file, :kind, :as_of, "
            ":rows, :valid, :quarantined, :success, :gate_failures, :stats, :docs_path)",
            {
                "run_id": run_id,
                "seq": seq,
                "dataset": dataset,
                "source_file": source_file,
                "kind": kind,
                "as_of": _ts(as_of),
                "rows": int(rows),
                "valid": int(valid),
                "quarantined": int(quarantined),
                "success": bool(success),
                "gate_failures": json.dumps(gate_failures, default=str),
                "stats": json.dumps(stats, default=str),
                "docs_path": docs_path,
            },
        )
    return run_id


def accepted_history(wh: Warehouse, dataset: str, limit: int = 7) -> list[dict[str, Any]]:
    """Stats of the last ``limit`` accepted ingest batches of ``dataset``, newest first."""
    df = wh.query(
        "SELECT stats FROM validation_runs WHERE dataset = :d AND kind = 'ingest' AND success "
        "ORDER BY as_of DESC, seq DESC LIMIT :n",
        {"d": dataset, "n": int(limit)},
    )
    return [json.loads(s) for s in df["stats"]] if len(df) else []


def list_runs(wh: Warehouse, dataset: str | None = None) -> pd.DataFrame:
    """Validation runs, newest first."""
    where = "WHERE dataset = :d" if dataset else ""
    return wh.query(
        f"SELECT dataset, source_file, kind, as_of, rows, valid, quarantined, success, docs_path "
        f"FROM validation_runs {where} ORDER BY as_of DESC, seq DESC",
        {"d": dataset} if dataset else None,
    )
