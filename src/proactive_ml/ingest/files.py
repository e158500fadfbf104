"""Load landing files (CSV, Parquet, JSON lines) into the warehouse raw tables.

A landing folder holds one sub-folder per dataset (``landing/customers/*.csv``, ``landing/usage_events/*.parquet``
...) or files whose names start with the dataset name. For each file, in dataset order (customers first):

1. read it as text columns with the physical line number of every row (:mod:`.landing`; structure problems --
   empty file, a missing required or an unexpected column, truncated last line, a row with too many fields --
   refuse the file, naming file, line and column; optional columns may be left out);
2. validate it (``proactive_ml.validation.validate_batch``: typing, row rules -> quarantine, batch gates);
3. write valid rows, quarantined rows and the file's SHA-256 in **one transaction**: all of the file or nothing.

Files of unknown types are listed (``IngestSummary.unclaimed``); a run that loads nothing while such files are
present fails, listing them. Re-running adds nothing: a file whose content hash is in ``ingest_log`` is skipped, and rows whose natural key is
already stored are not inserted again (customers and tickets are upserted: a newer row replaces the old one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from rich.progress import Progress

from proactive_ml.contract import DATASETS, INGEST_ORDER, SQL_TYPES, Dataset
from proactive_ml.errors import GateFailure, IngestError, UserError
from proactive_ml.ingest.arrow_text import has_nul
from proactive_ml.ingest.entries import check_entries, walk
from proactive_ml.ingest.landing import MAX_LINE_BYTES, SUFFIXES, read_bytes, read_raw
from proactive_ml.ingest.writer import BatchWriter
from proactive_ml.settings import Settings
from proactive_ml.validation import format_gate_failures, record_result, validate_batch, write_quarantine
from proactive_ml.validation.batch import CHUNK_ROWS, BatchResult
from proactive_ml.validation.gx_run import deferred_data_docs
from proactive_ml.validation.reasons import ENCODING_REASON
from proactive_ml.warehouse.engine import Warehouse

__all__ = [
    "SUFFIXES",
    "discover",
    "ingest_file",
    "ingest_frame",
    "ingest_path",
    "read_raw",
    "warehouse_summary",
]


STREAM_ROWS = (
    CHUNK_ROWS  # rows per validated chunk; a larger file is written chunk by chunk as it is validated
)
NUL_REASON = "row contains a NUL byte, which no database text column can hold"


@dataclass
class FileResult:
    """What happened to one landing file."""

    path: Path
    dataset: str
    status: str  # "loaded" | "skipped" (already ingested)
    rows: int = 0
    inserted: int = 0
    quarantined: int = 0


@dataclass
class IngestSummary:
    """What happened to a landing folder."""

    files: list[FileResult] = field(default_factory=list)
    unclaimed: list[Path] = field(default_factory=list)  # files present that no dataset claims

    @property
    def loaded(self) -> int:
        """Files loaded in this run."""
        return sum(f.status == "loaded" for f in self.files)

    @property
    def skipped(self) -> int:
        """Files skipped (already ingested)."""
        return sum(f.status == "skipped" for f in self.files)

    @property
    def rows(self) -> int:
        """Rows read, over all files."""
        return sum(f.rows for f in self.files)

    @property
    def inserted(self) -> int:
        """Rows inserted into the warehouse, over all files."""
        return sum(f.inserted for f in self.files)

    @property
    def quarantined(self) -> int:
        """Rows quarantined, over all files."""
        return sum(f.quarantined for f in self.files)


# ---------------------------------------------------------------------------------------------- discovery
def dataset_of(path: Path) -> str | None:
    """The dataset a landing file belongs to: its parent folder's name, or the prefix of its file name."""
    if path.parent.name in DATASETS:
        return path.parent.name
    for name in sorted(DATASETS, key=len, reverse=True):
        if path.name.startswith(name):
            return name
    return None


def unclaimed_files(path: Path, claimed: set[Path] | None = None) -> list[Path]:
    """Files under ``path`` that no dataset claims.

    With ``claimed`` None (landing-folder convention): files of unknown types (``.txt``, ``.xlsx`` ...); else
    every file not in ``claimed``. Hidden files are ignored.
    """
    path = Path(path)
    if not path.is_dir():
        return []
    files = [p for p in walk(path)[0] if not p.name.startswith(".")]
    if claimed is None:
        return sorted(p for p in files if p.suffix.lower() not in SUFFIXES)
    resolved = {c.resolve() for c in claimed}
    return sorted(p for p in files if p.resolve() not in resolved)


def describe_unclaimed(files: list[Path], limit: int = 20) -> str:
    """A list of unclaimed files for a person (with their file type)."""
    lines = [f"  {p} ({p.suffix or 'no extension'})" for p in files[:limit]]
    if len(files) > limit:
        lines.append(f"  ... and {len(files) - limit} more")
    return "\n".join(lines)


def discover(path: Path) -> list[tuple[str, Path]]:
    """Landing files under ``path`` (a folder or one file), in ingestion order (customers first, then by name).

    Entries that may not be read (:mod:`.entries`: a link out of the folder, a dangling link, a FIFO, a device)
    refuse the run before anything is loaded, each listed with its reason.
    """
    path = Path(path)
    if not path.exists():
        raise IngestError(str(path), "no such file or folder")
    if path.is_dir():
        candidates, refused = walk(path)
        check_entries(refused, path)  # links out, dangling links, FIFOs, devices: listed, never read
    elif path.is_file():
        candidates = [path]
    else:
        raise IngestError(str(path), "not a regular file or folder")
    found: list[tuple[str, Path]] = []
    for p in candidates:
        if p.suffix.lower() not in SUFFIXES:
            continue
        ds = dataset_of(p)
        if ds is None:
            raise IngestError(
                str(p), f"cannot tell which dataset this is; put it in a folder named one of {list(DATASETS)}"
            )
        found.append((ds, p))
    return sorted(found, key=lambda t: (INGEST_ORDER.index(t[0]), t[1].name, str(t[1])))


# ---------------------------------------------------------------------------------------------- writing
def _write_valid(wh: Warehouse, ds: Dataset, valid: pd.DataFrame) -> int:
    """Insert rows whose natural key is new (append datasets) or replace by key (upsert datasets).

    The typed rows go to SQL as one Arrow table (DuckDB scans it in place, PostgreSQL receives one COPY into a
    staging table) and into the dataset's table with one INSERT ... SELECT: no Python work per row. The count
    is the INSERT's own (no count of a growing table per file).
    """
    if valid.empty:
        return 0
    cols = ds.column_names
    key_match = " AND ".join(f"t.{k} = s.{k}" for k in ds.key)
    table = pa.Table.from_pandas(valid[cols], preserve_index=False)
    with wh.arrow_source(table, "staged_rows") as staged:
        if ds.upsert:
            wh.execute(f"DELETE FROM {ds.name} t WHERE EXISTS (SELECT 1 FROM {staged} s WHERE {key_match})")
        col_sql = ", ".join(cols)
        sel = ", ".join(f"CAST(s.{c.name} AS {SQL_TYPES[c.type]})" for c in ds.columns)
        extra, params = "", dict[str, Any]()
        if not ds.upsert:
            span, params = _time_span(ds, valid)
            extra = f" WHERE NOT EXISTS (SELECT 1 FROM {ds.name} t WHERE {key_match}{span})"
        inserted = wh.execute(
            f"INSERT INTO {ds.name} ({col_sql}) SELECT {sel} FROM {staged} s{extra}", params
        )
        return len(valid) if ds.upsert else inserted


def _time_span(ds: Dataset, valid: pd.DataFrame) -> tuple[str, dict[str, Any]]:
    """A bound on the key look-up: the batch's time span, when the natural key holds the time column.

    Stored rows outside the span cannot match, and the bound lets DuckDB skip whole row groups of a large table
    (a backfill's history).
    """
    t = ds.time_column
    if t not in ds.key or ds.column(t).type != "timestamp":
        return "", {}
    times = pd.to_datetime(valid[t])
    lo, hi = times.min(), times.max()
    if pd.isna(lo) or pd.isna(hi):
        return "", {}
    return f" AND t.{t} >= :span_lo AND t.{t} <= :span_hi", {
        "span_lo": lo.to_pydatetime(),
        "span_hi": hi.to_pydatetime(),
    }


def ingest_file(wh: Warehouse, dataset: str, path: Path, settings: Settings, as_of: datetime) -> FileResult:
    """Validate and load one landing file in one transaction; skip it if its content was loaded before.

    The file is read once: the recorded hash is of the very bytes validated and loaded (a file replaced
    meanwhile cannot leave its new content under the old content's hash).
    """
    ds = DATASETS[dataset]
    text = SUFFIXES[path.suffix.lower()] != "parquet"
    data, digest = read_bytes(path, MAX_LINE_BYTES if text else None)  # the hash is of the bytes parsed below
    if already_ingested(wh, digest):
        return FileResult(path, dataset, "skipped")
    raw = read_raw(path, ds, data)
    return ingest_frame(wh, ds, raw, path, digest, settings, as_of)


def already_ingested(wh: Warehouse, digest: str) -> bool:
    """True if a file (or mapped source) with this digest was loaded before (tables must exist)."""
    return bool(wh.scalar("SELECT count(*) FROM ingest_log WHERE file_sha256 = :h", {"h": digest}))


def ingest_frame(
    wh: Warehouse,
    ds: Dataset,
    raw: pd.DataFrame,
    path: Path,
    digest: str,
    settings: Settings,
    as_of: datetime,
    after_write: Callable[[Warehouse, pd.DataFrame], None] | None = None,
    *,
    history: bool = False,
) -> FileResult:
    """Validate one all-text frame in the contract's layout and write it in one transaction.

    ``raw`` has the contract's columns as text plus ``_line`` and ``_decode_error``. One transaction writes the
    valid rows, the quarantined rows, ``after_write(wh, valid)`` (a mapping's extra tables), the ingest-log
    row keyed by ``digest`` and the validation run's success: a batch not written leaves no success row. A
    failed gate records the failed run, raises :class:`GateFailure` and writes nothing else. A row holding a
    NUL byte is quarantined (PostgreSQL text cannot hold one), naming its line and column. A ``history`` file
    (an older file of a backfill that brings newer ones of the same dataset) is not held to the freshness gate.
    A file of more than ``STREAM_ROWS`` rows is written while it is validated (:mod:`.writer`: the same single
    transaction, on a writer thread, committed only after the gates and GX passed, else rolled back).
    """
    nul_columns, skip = _flag_nul_bytes(raw), ("freshness",) if history else ()
    # a batch of several chunks is written while it is validated (one transaction, committed only at the end)
    stream = after_write is None and len(raw) > STREAM_ROWS and not getattr(wh, "_in_tx", 0)
    parts: list[pd.DataFrame] = []
    with BatchWriter(wh, lambda w, rows: _write_valid(w, ds, rows)) as writer:

        def on_chunk(valid: pd.DataFrame, quarantined: pd.DataFrame) -> None:
            writer.put(valid)
            if len(quarantined):
                parts.append(quarantined)

        result = validate_batch(
            wh, ds, raw, str(path), as_of, settings, chunk_rows=STREAM_ROWS, record=False,
            skip_gates=skip, on_chunk=on_chunk if stream else None,
        )  # fmt: skip
        if stream:
            result.quarantined = pd.concat(parts, ignore_index=True) if parts else result.quarantined
        _name_decode_columns(result.quarantined, {**(raw.attrs.get("decode_columns") or {}), **nul_columns})
        _say_nul(result.quarantined, nul_columns)
        _refuse_failed_gates(wh, writer, result, path, as_of)
        n_quarantined = int(result.quarantined["source_line"].nunique()) if len(result.quarantined) else 0

        def last(w: Warehouse) -> None:  # quarantine, log and the run's success: in the rows' transaction
            if n_quarantined:
                write_quarantine(w, result.quarantined)
            if after_write is not None:
                after_write(w, result.valid)
            _log_file(w, ds, path, digest, (len(raw), int(result.stats["valid"]), n_quarantined), as_of)
            record_result(w, result, "ingest", as_of)

        if stream:
            inserted = writer.commit(last)
        else:
            with wh.transaction():  # rows, quarantine, log and the run's success: all of them or none
                inserted = _write_valid(wh, ds, result.valid)
                last(wh)
    return FileResult(path, ds.name, "loaded", len(raw), inserted, n_quarantined)


def _refuse_failed_gates(
    wh: Warehouse, writer: BatchWriter, result: BatchResult, path: Path, as_of: datetime
) -> None:
    """A failed gate: roll back the chunks written so far, put the refusal on record, raise GateFailure."""
    if result.gate_failures:
        writer.abort()
        record_result(wh, result, "ingest", as_of)  # the refusal is on record; nothing else is written
        raise GateFailure(format_gate_failures(result) + _quarantine_examples(path, result.quarantined))


def _log_file(
    wh: Warehouse, ds: Dataset, path: Path, digest: str, counts: tuple[int, int, int], as_of: datetime
) -> None:
    """The file's row in ``ingest_log`` (its hash makes a re-run skip it)."""
    rows, valid, quarantined = counts
    wh.execute(
        "INSERT INTO ingest_log (file_sha256, dataset, path, rows, valid_rows, quarantined_rows, ingested_at) "
        "VALUES (:h, :d, :p, :r, :v, :q, :t)",
        {"h": digest, "d": ds.name, "p": str(path), "r": rows, "v": valid, "q": quarantined, "t": as_of},
    )


def _flag_nul_bytes(raw: pd.DataFrame) -> dict[int, str]:
    """Rows holding a NUL byte (no PostgreSQL text can): flagged like bad bytes; line -> the first such column.

    The NUL is replaced (U+FFFD) so the row can be validated and quarantined; validation sees the row flag.
    """
    found: dict[int, str] = {}
    for c in [c for c in raw.columns if not str(c).startswith("_")]:
        s = raw[c]
        if not (pd.api.types.is_string_dtype(s) or s.dtype == object):
            continue
        if hasattr(s.array, "__arrow_array__") and not has_nul(pa.array(s.array)):
            continue  # Arrow-backed text without a NUL: checked in place, no copy
        try:
            has = s.str.contains("\x00", regex=False, na=False).astype(bool)
        except AttributeError:  # no text in the column at all
            continue
        if not has.any():
            continue
        raw[c] = s.astype(object).where(~has, s[has].str.replace("\x00", "\ufffd", regex=False))
        for line in raw.loc[has, "_line"]:
            found.setdefault(int(line), str(c))
        raw["_decode_error"] = raw["_decode_error"].astype(bool) | has
    return found


def _say_nul(quarantined: pd.DataFrame, nul_columns: dict[int, str]) -> None:
    """A row quarantined for a NUL byte says so (validation only saw the bad-bytes flag)."""
    if not nul_columns or quarantined is None or quarantined.empty:
        return
    rows = quarantined["source_line"].isin(list(nul_columns))
    quarantined.loc[rows, "reason"] = quarantined.loc[rows, "reason"].str.replace(
        ENCODING_REASON, NUL_REASON, regex=False
    )


def _name_decode_columns(quarantined: pd.DataFrame, columns: dict[int, str]) -> None:
    """Rows quarantined for bad bytes: name the column the bytes are in (validation sees only the row flag)."""
    if not columns or quarantined is None or quarantined.empty:
        return
    unnamed = quarantined["column"].fillna("").eq("") & quarantined["source_line"].isin(list(columns))
    quarantined.loc[unnamed, "column"] = quarantined.loc[unnamed, "source_line"].map(columns)


def _quarantine_examples(path: Path, quarantined: pd.DataFrame, limit: int = 5) -> str:
    """The first failing rows of a refused file, as 'file, line N, column C: reason' lines."""
    if quarantined is None or quarantined.empty:
        return ""
    lines = [
        f"\n  {path}, line {r.source_line}, column {r.column!r}: {r.reason}"
        for r in quarantined.head(limit).itertuples()
    ]
    more = len(quarantined) - limit
    return "\nrows that failed:" + "".join(lines) + (f"\n  ... and {more} more" if more > 0 else "")


def ingest_path(
    wh: Warehouse,
    path: Path,
    settings: Settings,
    as_of: datetime,
    progress: bool = False,
    on_file: Callable[[FileResult], None] | None = None,
) -> IngestSummary:
    """Ingest every landing file under ``path``; stops at the first refused file (earlier files stay loaded).

    The Data Docs site is rebuilt once for the run (its pages cover every file validated), not after each file.
    """
    files = discover(Path(path))
    summary = IngestSummary(unclaimed=unclaimed_files(Path(path)))
    bar = None
    if progress and files:
        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("ingesting", total=len(files))
    try:
        with deferred_data_docs(settings):
            _ingest_files(wh, files, settings, as_of, summary, bar, task if bar else None, on_file)
    finally:
        if bar:
            bar.stop()
    check_something_loaded(summary, Path(path))
    return summary


def check_something_loaded(summary: IngestSummary, where: Path) -> None:
    """A run that loads nothing while unclaimed files are present fails, listing them."""
    if summary.unclaimed and not summary.files:
        raise UserError(
            f"nothing was loaded from {where}, but it holds {len(summary.unclaimed)} file(s) that no dataset "
            f"claims (known types: {', '.join(sorted(SUFFIXES))}; or map them in a sources.yaml):\n"
            + describe_unclaimed(summary.unclaimed)
        )


def _ingest_files(
    wh: Warehouse,
    files: list[tuple[str, Path]],
    settings: Settings,
    as_of: datetime,
    summary: IngestSummary,
    bar: Any,
    task: Any,
    on_file: Callable[[FileResult], None] | None,
) -> None:
    for dataset, p in files:
        res = ingest_file(wh, dataset, p, settings, as_of)
        summary.files.append(res)
        if on_file:
            on_file(res)
        if bar:
            bar.update(task, advance=1, description=f"{dataset}: {p.name}")


def warehouse_summary(wh: Warehouse) -> pd.DataFrame:
    """Row counts and time ranges of the raw tables (for people)."""
    rows = []
    for ds in DATASETS.values():
        r = wh.query(
            f"SELECT count(*) AS n, min({ds.time_column}) AS first, max({ds.time_column}) AS last FROM {ds.name}"
        )
        rows.append(
            {"dataset": ds.name, "rows": int(r["n"][0]), "first": r["first"][0], "last": r["last"][0]}
        )
    return pd.DataFrame(rows)
