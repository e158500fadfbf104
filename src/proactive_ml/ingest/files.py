"""Load landing files (CSV, Parquet, JSON lines) into the warehouse raw tables.

A landing folder holds one sub-folder per dataset (``landing/customers/*.csv``, ``landing/usage_events/*.parquet``
...) or files whose names start with the dataset name. For each file, in dataset order (customers first):

1. read it as text columns with the physical line number of every row (structure problems -- empty file, wrong
   header, truncated last line, a row with too many fields -- refuse the file, naming file, line and column);
2. validate it (``proactive_ml.validation.validate_batch``: typing, row rules -> quarantine, batch gates);
3. write valid rows, quarantined rows and the file's SHA-256 in **one transaction**: all of the file or nothing.

Re-running adds nothing: a file whose content hash is in ``ingest_log`` is skipped, and rows whose natural key is
already stored are not inserted again (customers and tickets are upserted: a newer row replaces the old one).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from proactive_ml.contract import DATASETS, INGEST_ORDER, SQL_TYPES, Dataset
from proactive_ml.errors import GateFailure, IngestError
from proactive_ml.warehouse.engine import Warehouse

SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


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

    @property
    def loaded(self) -> int:
        return sum(f.status == "loaded" for f in self.files)

    @property
    def skipped(self) -> int:
        return sum(f.status == "skipped" for f in self.files)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def inserted(self) -> int:
        return sum(f.inserted for f in self.files)

    @property
    def quarantined(self) -> int:
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


def discover(path: Path) -> list[tuple[str, Path]]:
    """Landing files under ``path`` (a folder or one file), in ingestion order (customers first, then by name)."""
    path = Path(path)
    if not path.exists():
        raise IngestError(str(path), "no such file or folder")
    candidates = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
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


# ---------------------------------------------------------------------------------------------- reading
def file_sha256(path: Path) -> str:
    """Content hash of a file (idempotence key)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_header(path: Path, ds: Dataset, columns: list[str], line: int = 1) -> None:
    expected = ds.column_names
    missing = [c for c in expected if c not in columns]
    extra = [c for c in columns if c not in expected]
    if missing:
        hint = f" (found unexpected {extra})" if extra else ""
        raise IngestError(
            str(path), f"missing column(s) {missing}{hint}; expected {expected}", line, missing[0]
        )
    if extra:
        raise IngestError(str(path), f"unexpected column(s) {extra}; expected {expected}", line, extra[0])


def read_raw(path: Path, ds: Dataset) -> pd.DataFrame:
    """Read a landing file as text columns plus ``_line`` (physical line) and ``_decode_error`` (bad UTF-8)."""
    kind = SUFFIXES[path.suffix.lower()]
    if path.stat().st_size == 0:
        raise IngestError(str(path), "the file is empty", 1)
    if kind == "csv":
        return _read_csv(path, ds)
    if kind == "parquet":
        try:
            df = pd.read_parquet(path)
        except Exception as exc:
            raise IngestError(str(path), f"not a readable Parquet file: {exc}") from exc
        _check_header(path, ds, list(df.columns))
        lines = pd.RangeIndex(1, len(df) + 1)
    else:
        df, lines = _read_jsonl(path, ds)
    out = _as_text(df[ds.column_names])
    out["_line"] = list(lines)
    out["_decode_error"] = False
    return out


def _as_text(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=df.index)
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            text = s.dt.strftime("%Y-%m-%dT%H:%M:%S")
        else:
            text = s.astype(object).where(s.notna(), None).map(lambda v: v if v is None else str(v))
        out[c] = text.astype(object).where(s.notna(), None)
    return out.reset_index(drop=True)


def _read_jsonl(path: Path, ds: Dataset) -> tuple[pd.DataFrame, list[int]]:
    import json

    records: list[dict[str, Any]] = []
    lines: list[int] = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise IngestError(str(path), f"not valid UTF-8 at byte {exc.start}", n) from exc
            except json.JSONDecodeError as exc:
                what = "truncated last line" if not raw.endswith(b"\n") else "invalid JSON"
                raise IngestError(str(path), f"{what}: {exc.msg} at column {exc.colno}", n) from exc
            if not isinstance(obj, dict):
                raise IngestError(str(path), "each line must be a JSON object", n)
            if not records:
                _check_header(path, ds, list(obj), n)
            missing = [c for c in ds.column_names if c not in obj]
            if missing:
                raise IngestError(str(path), "missing field", n, missing[0])
            records.append(obj)
            lines.append(n)
    if not records:
        raise IngestError(str(path), "no records", 1)
    return pd.DataFrame.from_records(records, columns=ds.column_names), lines


def _read_csv(path: Path, ds: Dataset) -> pd.DataFrame:
    data = path.read_bytes()
    header_end = data.find(b"\n")
    header_bytes = data if header_end < 0 else data[:header_end]
    header = next(csv.reader([header_bytes.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r")]))
    header = [h.strip() for h in header]
    _check_header(path, ds, header)
    if header_end < 0 or not data[header_end + 1 :].strip():
        raise IngestError(str(path), "the file has a header but no rows", 2)
    _check_last_line(path, data, len(header))
    text = data.decode("utf-8", errors="replace")
    try:
        df = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            engine="c",
            skipinitialspace=False,
        )
    except pd.errors.ParserError as exc:
        raise IngestError(str(path), f"malformed CSV: {exc}") from exc
    df.columns = header
    # physical line numbers; quoted newlines are rare in landing files but counted correctly here
    if '"' in text and "\n" in text.split("\n", 1)[1].replace("\r", "") and _has_quoted_newline(text):
        lines = _csv_line_numbers(text)
    else:
        lines = list(range(2, len(df) + 2))
    df = df[ds.column_names].astype(object).where(df[ds.column_names].notna(), None)
    df["_line"] = lines
    bad = _bad_utf8_lines(data, header) if "\ufffd" in text else {}
    df["_decode_error"] = df["_line"].isin(list(bad)) if bad else False
    df.attrs["decode_columns"] = bad
    return df.reset_index(drop=True)


def _check_last_line(path: Path, data: bytes, n_fields: int) -> None:
    """A file cut off mid-row: its last line lacks fields (or ends inside a quote)."""
    body = data.rstrip(b"\r\n")
    last_nl = body.rfind(b"\n")
    last = body[last_nl + 1 :].decode("utf-8", errors="replace")
    line_no = body.count(b"\n") + 1
    if last.count('"') % 2 == 1:
        raise IngestError(str(path), "truncated last line (unterminated quote)", line_no)
    fields = next(csv.reader([last]), [])
    if len(fields) < n_fields:
        raise IngestError(
            str(path), f"truncated last line: {len(fields)} of {n_fields} fields", line_no, None
        )


def _has_quoted_newline(text: str) -> bool:
    in_quote = False
    for ch in text:
        if ch == '"':
            in_quote = not in_quote
        elif ch == "\n" and in_quote:
            return True
    return False


def _csv_line_numbers(text: str) -> list[int]:
    reader = csv.reader(io.StringIO(text))
    next(reader)
    out = []
    for _row in reader:
        out.append(reader.line_num)  # line where the record ended; close enough for people
    return out


def _bad_utf8_lines(data: bytes, header: list[str]) -> dict[int, str]:
    """Line number -> the first column whose bytes are not valid UTF-8."""
    bad: dict[int, str] = {}
    for n, raw in enumerate(data.split(b"\n"), start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            fields = next(csv.reader([raw.decode("utf-8", errors="replace")]), [])
            col = next((header[i] for i, f in enumerate(fields) if "\ufffd" in f and i < len(header)), "")
            bad[n] = col
    return bad


# ---------------------------------------------------------------------------------------------- writing
def _write_valid(wh: Warehouse, ds: Dataset, valid: pd.DataFrame) -> int:
    """Insert rows whose natural key is new (append datasets) or replace by key (upsert datasets)."""
    if valid.empty:
        return 0
    cols = ds.column_names
    key_match = " AND ".join(f"t.{k} = s.{k}" for k in ds.key)
    with wh.staged(valid[cols], "staged_rows") as staged:
        if ds.upsert:
            wh.execute(f"DELETE FROM {ds.name} t WHERE EXISTS (SELECT 1 FROM {staged} s WHERE {key_match})")
            before = 0
        else:
            before = wh.row_count(ds.name)
        col_sql = ", ".join(cols)
        sel = ", ".join(f"CAST(s.{c.name} AS {SQL_TYPES[c.type]})" for c in ds.columns)
        extra = "" if ds.upsert else f" WHERE NOT EXISTS (SELECT 1 FROM {ds.name} t WHERE {key_match})"
        wh.execute(f"INSERT INTO {ds.name} ({col_sql}) SELECT {sel} FROM {staged} s{extra}")
        return len(valid) if ds.upsert else wh.row_count(ds.name) - before


def ingest_file(wh: Warehouse, dataset: str, path: Path, settings: Any, as_of: datetime) -> FileResult:
    """Validate and load one landing file in one transaction; skip it if its content was loaded before."""
    from proactive_ml.validation import format_gate_failures, validate_batch, write_quarantine

    ds = DATASETS[dataset]
    digest = file_sha256(path)
    if wh.scalar("SELECT count(*) FROM ingest_log WHERE file_sha256 = :h", {"h": digest}):
        return FileResult(path, dataset, "skipped")
    raw = read_raw(path, ds)
    result = validate_batch(wh, dataset, raw, str(path), as_of, settings)
    _name_decode_columns(result.quarantined, raw.attrs.get("decode_columns") or {})
    if result.gate_failures:
        raise GateFailure(format_gate_failures(result) + _quarantine_examples(path, result.quarantined))
    n_quarantined = int(result.quarantined["source_line"].nunique()) if len(result.quarantined) else 0
    with wh.transaction():
        inserted = _write_valid(wh, ds, result.valid)
        if n_quarantined:
            write_quarantine(wh, result.quarantined)
        wh.execute(
            "INSERT INTO ingest_log (file_sha256, dataset, path, rows, valid_rows, quarantined_rows, ingested_at) "
            "VALUES (:h, :d, :p, :r, :v, :q, :t)",
            {
                "h": digest,
                "d": dataset,
                "p": str(path),
                "r": len(raw),
                "v": len(result.valid),
                "q": n_quarantined,
                "t": as_of,
            },
        )
    return FileResult(path, dataset, "loaded", len(raw), inserted, n_quarantined)


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
    settings: Any,
    as_of: datetime,
    progress: bool = False,
    on_file: Callable[[FileResult], None] | None = None,
) -> IngestSummary:
    """Ingest every landing file under ``path``; stops at the first refused file (earlier files stay loaded).

    The Data Docs site is rebuilt once for the run (its pages cover every file validated), not after each file.
    """
    from proactive_ml.validation.gx_run import deferred_data_docs

    files = discover(Path(path))
    summary = IngestSummary()
    bar = None
    if progress and files:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("ingesting", total=len(files))
    try:
        with deferred_data_docs(settings):
            _ingest_files(wh, files, settings, as_of, summary, bar, task if bar else None, on_file)
    finally:
        if bar:
            bar.stop()
    return summary


def _ingest_files(
    wh: Warehouse,
    files: list[tuple[str, Path]],
    settings: Any,
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
