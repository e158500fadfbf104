"""Read landing files laid out in the contract's own columns (the landing-folder convention).

Each file is read as text columns plus the physical line number of every row and a flag for bytes that are not
valid UTF-8. Structure problems -- empty file, a missing required column or an unexpected one, a truncated last
line, a row with too many fields -- refuse the file, naming file, line and column. Optional contract columns a
file leaves out are read as empty (or their contract default, e.g. ``quantity`` 1).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from proactive_ml.contract import Dataset
from proactive_ml.errors import IngestError
from proactive_ml.ingest.arrow_text import text_frame
from proactive_ml.ingest.structure import (
    MAX_FIELD_CHARS,
    MAX_JSON_DEPTH,
    check_field_sizes,
    check_unique_header,
    csv_fields,
    json_depth_column,
    record_lines,
    record_starts,
    valid_utf8,
)

SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
READ_CHUNK = 1 << 20  # bytes per read
_FIELDS_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
MAX_LINE_BYTES = 8 << 20  # no landing row is longer (a sparse file of NULs has no line break at all)


def read_bytes(path: Path, max_line: int | None = MAX_LINE_BYTES) -> tuple[bytes, str]:
    """The file's bytes and the SHA-256 of exactly those bytes: one read, so the hash is of what gets parsed.

    A file replaced while it is read can never be recorded under another content's hash. With ``max_line``
    (text formats; at least ``READ_CHUNK``), a line longer than that many bytes refuses the file as soon as it is
    seen, so memory stays bounded by it on any input (a 2 GB file without a line break is not read to its end).
    """
    h = hashlib.sha256()
    parts: list[bytes] = []
    line, run = 1, 0  # current line number, bytes since its start
    with open(path, "rb", opener=_open_nonblocking) as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # a FIFO or device put in place of the file
            raise IngestError(str(path), "not a regular file")
        for chunk in iter(lambda: f.read(READ_CHUNK), b""):
            h.update(chunk)
            parts.append(chunk)
            if max_line is None:
                continue
            last = chunk.rfind(b"\n")
            if last < 0:
                run += len(chunk)
            else:  # lines inside one chunk are shorter than the limit; only one spanning chunks can be longer
                if run + chunk.find(b"\n") > max_line:
                    run += chunk.find(b"\n")
                    break
                line += chunk.count(b"\n")
                run = len(chunk) - last - 1
            if run > max_line:
                break
    if max_line is not None and run > max_line:
        raise IngestError(
            str(path),
            f"line longer than {max_line:,} bytes: not a {path.suffix or 'text'} file of rows?",
            line,
        )
    return b"".join(parts), h.hexdigest()


def _open_nonblocking(path: str, flags: int) -> int:
    """Open without blocking, so a FIFO swapped in for a file is refused instead of hanging the run."""
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def _check_header(path: Path, ds: Dataset, columns: list[str], line: int = 1) -> None:
    check_unique_header(path, columns, line)
    expected = ds.column_names
    missing = [c for c in ds.required_columns if c not in columns]  # optional columns may be left out
    extra = [c for c in columns if c not in expected]
    if missing:
        hint = f" (found unexpected {extra})" if extra else ""
        raise IngestError(
            str(path), f"missing column(s) {missing}{hint}; expected {expected}", line, missing[0]
        )
    if extra:
        raise IngestError(str(path), f"unexpected column(s) {extra}; expected {expected}", line, extra[0])


def read_raw(path: Path, ds: Dataset, data: bytes | None = None) -> pd.DataFrame:
    """Read a landing file as text columns plus ``_line`` (physical line) and ``_decode_error`` (bad UTF-8).

    ``data`` is the file's content as read by :func:`read_bytes` (the bytes its recorded hash is of); without
    it the file is read here.
    """
    kind = SUFFIXES[path.suffix.lower()]
    if data is None:
        data, _ = read_bytes(path, None if kind == "parquet" else MAX_LINE_BYTES)
    if not data:
        raise IngestError(str(path), "the file is empty", 1)
    if kind == "csv":
        return apply_defaults(ds, _read_csv(path, ds, data))
    if kind == "parquet":
        return _read_parquet(path, ds, data)
    df, lines = _read_jsonl(path, ds, data)
    out = _as_text(df.reindex(columns=ds.column_names))
    check_field_sizes(path, out, list(lines))
    out["_line"] = list(lines)
    out["_decode_error"] = False
    return apply_defaults(ds, out)


def _read_parquet(path: Path, ds: Dataset, data: bytes) -> pd.DataFrame:
    """A Parquet file as Arrow-backed text columns (:mod:`.arrow_text`: no Python work per value)."""
    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as exc:
        raise IngestError(str(path), f"not a readable Parquet file: {exc}") from exc
    _check_header(path, ds, list(table.column_names))
    out = text_frame(table, ds.column_names)
    lines = np.arange(1, table.num_rows + 1, dtype=np.int64)
    check_field_sizes(path, out, lines)
    out["_line"] = lines
    out["_decode_error"] = False
    return apply_defaults(ds, out)


def apply_defaults(ds: Dataset, frame: pd.DataFrame) -> pd.DataFrame:
    """Contract columns a file left out become empty; empty values of a column with a default take it."""
    for c in ds.columns:
        if c.name not in frame.columns:
            frame[c.name] = None
        if c.default is not None:
            col = frame[c.name]
            if isinstance(col.dtype, pd.StringDtype):  # Arrow-backed text: stays Arrow-backed
                missing = col.isna().to_numpy() | (col.str.len() == 0).fillna(True).to_numpy()
                if missing.any():
                    frame[c.name] = col.mask(missing, c.default)
                continue
            col = col.astype(object)
            frame[c.name] = col.where(col.notna() & (col != ""), c.default)
    return frame


def _as_text(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=df.index)
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            if (
                getattr(s.dt, "tz", None) is not None
            ):  # an instant with its offset: stored as UTC, not wall time
                s = s.dt.tz_convert("UTC").dt.tz_localize(None)
            text = s.dt.strftime("%Y-%m-%dT%H:%M:%S")
        else:
            text = s.astype(object).where(s.notna(), None).map(lambda v: v if v is None else str(v))
        out[c] = text.astype(object).where(s.notna(), None)
    return out.reset_index(drop=True)


def _read_jsonl(path: Path, ds: Dataset, data: bytes) -> tuple[pd.DataFrame, list[int]]:
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    with io.BytesIO(data) as f:
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            obj = _json_line(path, raw, n)
            if not isinstance(obj, dict):
                raise IngestError(str(path), "each line must be a JSON object", n)
            if not records:
                _check_header(path, ds, list(obj), n)
            missing = [c for c in ds.required_columns if c not in obj]
            if missing:
                raise IngestError(str(path), "missing field", n, missing[0])
            records.append(obj)
            lines.append(n)
    if not records:
        raise IngestError(str(path), "no records", 1)
    return pd.DataFrame.from_records(records, columns=ds.column_names), lines


def _json_line(path: Path, raw: bytes, n: int) -> Any:
    """One JSON line, or an IngestError naming line and column (invalid, truncated, nested too deep)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(str(path), f"not valid UTF-8 at byte {exc.start}", n) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        what = "truncated last line" if not raw.endswith(b"\n") else "invalid JSON"
        raise IngestError(str(path), f"{what}: {exc.msg} at column {exc.colno}", n) from None
    except RecursionError:
        col = json_depth_column(text)
        raise IngestError(
            str(path), f"JSON nested too deeply (more than {MAX_JSON_DEPTH} levels) at column {col}", n
        ) from None


def _read_csv(path: Path, ds: Dataset, data: bytes) -> pd.DataFrame:
    header_end = data.find(b"\n")
    text = data[: header_end if header_end >= 0 else len(data)].decode("utf-8", errors="replace")
    header = csv_fields(text.lstrip("\ufeff").rstrip("\r"))
    if header is None:
        raise IngestError(str(path), f"a header field longer than {MAX_FIELD_CHARS:,} characters", 1)
    header = [h.strip() for h in header]
    _check_header(path, ds, header)
    if header_end < 0 or not data[header_end + 1 :].strip():
        raise IngestError(str(path), "the file has a header but no rows", 2)
    df = _parse_csv(path, data)
    starts = record_starts(data)[1:]
    if len(starts) == len(df):  # physical line of each record: quoted line breaks and blank lines counted
        lines = record_lines(data, starts)
        _check_last_record(path, data, int(starts[-1]), int(lines[-1]), len(header))
    else:  # a quote inside an unquoted value (O"Brien) that the quote model misreads: rows as read
        lines = np.arange(2, len(df) + 2)
        last = data.rstrip(b"\r\n").rfind(b"\n") + 1
        _check_last_record(path, data, last, data[:last].count(b"\n") + 1, len(header))
    df.columns = header
    check_field_sizes(path, df, lines)
    df = df.reindex(columns=ds.column_names).astype(object)
    df = df.where(df.notna(), None)
    df["_line"] = lines.tolist()
    bad = {} if valid_utf8(data) else _bad_utf8_lines(data, header)
    df["_decode_error"] = df["_line"].isin(list(bad)) if bad else False
    df.attrs["decode_columns"] = bad
    return df.reset_index(drop=True)


def _parse_csv(path: Path, data: bytes) -> pd.DataFrame:
    """All rows as text (pandas' C parser); its errors become an IngestError naming the line."""
    try:
        return pd.read_csv(
            io.BytesIO(data),
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            engine="c",
            skipinitialspace=False,
            encoding="utf-8",
            encoding_errors="replace",
        )
    except pd.errors.ParserError as exc:
        m = _FIELDS_RE.search(str(exc))
        if m:
            want, line, saw = m.groups()
            raise IngestError(str(path), f"row has {saw} fields, expected {want}", int(line)) from None
        if "EOF inside string" in str(exc):
            start = record_starts(data)[-1:]
            line = int(record_lines(data, start)[0]) if len(start) else None
            raise IngestError(str(path), "truncated last line (unterminated quote)", line) from None
        raise IngestError(str(path), f"malformed CSV: {str(exc).strip()}") from None


def _check_last_record(path: Path, data: bytes, start: int, line: int, n_fields: int) -> None:
    """A file cut off mid-row: its last record lacks fields or ends inside a quote (quoted line breaks are fine)."""
    last = data[start:].rstrip(b"\r\n").decode("utf-8", errors="replace")
    if last.count('"') % 2 == 1:
        raise IngestError(str(path), "truncated last line (unterminated quote)", line)
    fields = csv_fields(last)
    if fields is not None and len(fields) < n_fields:
        raise IngestError(str(path), f"truncated last line: {len(fields)} of {n_fields} fields", line, None)


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
