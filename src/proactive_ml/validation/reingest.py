"""Edge module: export the quarantine for a person to fix, and re-ingest the fixed rows.

The export is a CSV with the quarantine's bookkeeping columns (``dataset, source_file, source_line, column,
expectation, reason``) followed by the row's original fields, one column each, so a person can edit values in a
spreadsheet. :func:`reingest_quarantine` reads such a file back: each (dataset, source file) group goes through
:func:`validate_batch` again (row rules only; ``kind='reingest'``), the rows that now pass are inserted into the
raw table and removed from the quarantine, and the rows that still fail stay quarantined with their new reasons.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from proactive_ml.contract import DATASETS, SQL_TYPES, Dataset
from proactive_ml.csvsafe import restore_frame, write_csv
from proactive_ml.errors import UserError
from proactive_ml.settings import Settings
from proactive_ml.validation import store
from proactive_ml.validation.batch import BatchResult, record_result, validate_batch
from proactive_ml.warehouse import Warehouse

META_COLUMNS = ["dataset", "source_file", "source_line", "column", "expectation", "reason"]


def export_quarantine(wh: Warehouse, path: Path, dataset: str | None = None) -> int:
    """Write the quarantine (optionally one dataset) to ``path`` as an editable CSV. Returns the row count."""
    q = store.list_quarantine(wh, dataset)
    fields: list[str] = []
    records: list[dict[str, Any]] = []
    for ds in dict.fromkeys(q["dataset"]):
        if ds in DATASETS:
            fields += [c for c in DATASETS[ds].column_names if c not in fields]
    for raw in q["raw_row"]:
        rec = json.loads(raw)
        records.append(rec)
        fields += [k for k in rec if k not in fields]
    data = pd.DataFrame.from_records(records, columns=fields) if records else pd.DataFrame(columns=fields)
    out = pd.concat([q[META_COLUMNS].reset_index(drop=True), data.reset_index(drop=True)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(out, path)
    return len(out)


def _insert_raw(
    wh: Warehouse, ds: Dataset, valid: pd.DataFrame, lines: list[int]
) -> tuple[list[int], list[int]]:
    """Insert valid typed rows into the raw table.

    Upsert datasets replace rows with the same key; others skip a key that is already loaded. Returns (inserted
    lines, lines whose key was already loaded).
    """
    frame = valid.copy()
    frame["_line"] = pd.array(lines, dtype="int64")
    on = " AND ".join(f"t.{k} = s.{k}" for k in ds.key)
    casts = ", ".join(f"CAST(s.{c.name} AS {SQL_TYPES[c.type]})" for c in ds.columns)
    cols = ", ".join(ds.column_names)
    with wh.staged(frame, "reingest_stage") as s_name:
        if ds.upsert:
            on_table = " AND ".join(f"{ds.name}.{k} = s.{k}" for k in ds.key)
            wh.execute(f"DELETE FROM {ds.name} WHERE EXISTS (SELECT 1 FROM {s_name} s WHERE {on_table})")
            conflicts: list[int] = []
        else:
            conflicts = [
                int(x)
                for x in wh.query(
                    f"SELECT s._line FROM {s_name} s WHERE EXISTS (SELECT 1 FROM {ds.name} t WHERE {on})"
                )["_line"]
            ]
        wh.execute(
            f"INSERT INTO {ds.name} ({cols}) SELECT {casts} FROM {s_name} s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {ds.name} t WHERE {on})"
        )
    done = [ln for ln in lines if ln not in set(conflicts)]
    return done, conflicts


def _raw_frame(ds: Dataset, group: pd.DataFrame) -> pd.DataFrame:
    """The edited rows of one source file as the all-string frame validation reads (empty cell -> null)."""
    raw = pd.DataFrame(
        {c: group[c].tolist() if c in group.columns else [None] * len(group) for c in ds.column_names},
        dtype=object,
    )
    raw = raw.where(raw != "", None)
    raw["_line"] = group["source_line"].astype("int64").to_numpy()
    raw["_decode_error"] = (
        raw[ds.column_names]
        .apply(lambda col: col.astype(str).str.contains("\ufffd", regex=False))
        .any(axis=1)
        .to_numpy()
    )
    return raw


def _already_loaded(
    ds: Dataset,
    source_file: str,
    result: BatchResult,
    good_lines: list[int],
    conflicts: list[int],
    at: datetime | date,
) -> pd.DataFrame:
    """Quarantine rows for valid lines whose key is already in the warehouse."""
    kept = result.valid.assign(_line=good_lines)
    kept = kept[kept["_line"].isin(conflicts)]
    return pd.DataFrame(
        {
            "dataset": ds.name,
            "source_file": source_file,
            "source_line": kept["_line"],
            "column": ",".join(ds.key),
            "expectation": "key_already_loaded",
            "reason": "a row with this key is already in the warehouse",
            "raw_row": [json.dumps(r, default=str) for r in kept[ds.column_names].to_dict(orient="records")],
            "quarantined_at": pd.Timestamp(at),
        }
    )


def _reingest_file(
    wh: Warehouse,
    settings: Settings,
    ds: Dataset,
    source_file: str,
    group: pd.DataFrame,
    as_of: datetime | date,
) -> tuple[int, int, int]:
    """Re-validate and load the edited rows of one source file. Returns (loaded, still quarantined, conflicts)."""
    raw = _raw_frame(ds, group)
    result = validate_batch(
        wh, ds, raw, source_file, as_of, settings, gates=False, kind="reingest", record=False
    )
    bad_lines = set(result.quarantined["source_line"].astype(int)) if len(result.quarantined) else set()
    good_lines = [int(x) for x in raw["_line"] if int(x) not in bad_lines]
    with wh.transaction():
        done, conflicts = _insert_raw(wh, ds, result.valid, good_lines)
        store.delete_quarantined(wh, ds.name, source_file, [*done, *sorted(bad_lines)])
        store.write_quarantine(wh, result.quarantined)
        if conflicts:
            store.delete_quarantined(wh, ds.name, source_file, conflicts)
            store.write_quarantine(wh, _already_loaded(ds, source_file, result, good_lines, conflicts, as_of))
        record_result(wh, result, "reingest", as_of)  # on record only with the rows it stands for
    return len(done), len(bad_lines), len(conflicts)


def reingest_quarantine(
    wh: Warehouse, settings: Settings, path: Path, as_of: datetime | date
) -> dict[str, int]:
    """Re-validate the rows of an edited export and load those that pass.

    Returns:
        Counts ``{"rows", "loaded", "still_quarantined", "already_loaded"}``.

    Raises:
        UserError: The file is not a quarantine export.
    """
    df = restore_frame(pd.read_csv(path, dtype=str, keep_default_na=False))
    missing = [c for c in ("dataset", "source_file", "source_line") if c not in df.columns]
    if missing:
        raise UserError(f"{path}: not a quarantine export (missing columns {', '.join(missing)})")
    totals = {"rows": len(df), "loaded": 0, "still_quarantined": 0, "already_loaded": 0}
    for (name, source_file), group in df.groupby(["dataset", "source_file"], sort=False):
        loaded, still, conflicts = _reingest_file(
            wh, settings, DATASETS[str(name)], str(source_file), group, as_of
        )
        totals["loaded"] += loaded
        totals["still_quarantined"] += still
        totals["already_loaded"] += conflicts
    return totals
