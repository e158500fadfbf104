"""Read a company's file as its mapping declares: delimited text, Parquet or JSON lines.

Delimited text takes any delimiter (or runs of whitespace), any encoding, with or without a header line.

The result is an all-text frame of the file's own columns (empty -> None) plus ``_line`` (the physical line of
each row; the row number for Parquet) and ``_decode_error`` (the line had bytes invalid in the declared
encoding; decoded with replacement so the row can be quarantined). Structural faults -- an empty file, a row
with too many fields, invalid JSON, a mapped column the file does not have -- refuse the file with an
:class:`~proactive_ml.errors.IngestError` naming file, line and column.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from proactive_ml.errors import IngestError
from proactive_ml.ingest.landing import MAX_LINE_BYTES, read_bytes
from proactive_ml.ingest.mapping import DatasetMapping
from proactive_ml.ingest.structure import (
    MAX_JSON_DEPTH,
    check_field_sizes,
    check_unique_header,
    csv_fields,
    json_depth_column,
    record_lines,
    record_starts,
)

_FIELDS_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


@dataclass
class RawTable:
    """One source file read as text."""

    path: Path
    frame: pd.DataFrame  # source columns (text or None) + _line + _decode_error
    temporal: set[str] = field(default_factory=set)  # source columns that were typed dates/times (Parquet)
    sha256: str = ""  # of the bytes read (the idempotence key's content part)


def read_source(path: Path, dm: DatasetMapping, data: tuple[bytes, str] | None = None) -> RawTable:
    """Read one file of a dataset as its mapping declares; check every mapped source column is present.

    ``data`` is ``(bytes, sha256)`` from :func:`~proactive_ml.ingest.landing.read_bytes` when the caller read
    the file already (to check its hash); the table carries the hash of the bytes it was parsed from.
    """
    if not path.is_file():
        raise IngestError(str(path), "no such file")
    content, sha = data or read_bytes(path, None if dm.format == "parquet" else MAX_LINE_BYTES)
    if not content:
        raise IngestError(str(path), "the file is empty", 1)
    if dm.format == "parquet":
        table = _read_parquet(path, content)
    elif dm.format == "jsonl":
        table = _read_jsonl(path, content, dm.encoding)
    else:
        table = _read_delimited(path, content, dm)
    table.sha256 = sha
    present = [c for c in table.frame.columns if not str(c).startswith("_")]
    missing = [c for c in dm.source_columns if c not in present]
    if missing:
        line = 1 if dm.format == "csv" and dm.header else None
        raise IngestError(
            str(path),
            f"the mapping reads column(s) {missing} that the file does not have; it has {present}",
            line,
            missing[0],
        )
    return table


def _decode(path: Path, data: bytes, encoding: str) -> tuple[str, set[int]]:
    """The file's text and the (1-based) lines holding bytes that are invalid in ``encoding``."""
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return data.decode(enc), set()
    except UnicodeDecodeError:
        pass
    bad: set[int] = set()
    for n, raw in enumerate(data.split(b"\n"), start=1):
        try:
            raw.decode(enc)
        except UnicodeDecodeError:
            bad.add(n)
    return data.decode(enc, errors="replace"), bad


def _read_delimited(path: Path, data: bytes, dm: DatasetMapping) -> RawTable:
    text, bad_lines = _decode(path, data, dm.encoding)
    if not text.strip():
        raise IngestError(str(path), "the file is empty", 1)
    kwargs: dict[str, Any] = {"engine": "c"}
    if dm.delimiter == "whitespace":
        kwargs["sep"] = r"\s+"
    elif len(dm.delimiter) == 1:
        kwargs["sep"] = dm.delimiter
    else:  # a multi-character delimiter is literal text (no quoting)
        kwargs.update(sep=re.escape(dm.delimiter), engine="python", quoting=csv.QUOTE_NONE)
    try:
        df = pd.read_csv(
            io.StringIO(text),
            header=0 if dm.header else None,
            names=list(dm.names) or None,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
            decimal=".",
            **kwargs,
        )
    except pd.errors.EmptyDataError:
        raise IngestError(str(path), "the file has no rows", 1) from None
    except pd.errors.ParserError as exc:
        raise _parser_error(path, str(exc)) from None
    first = 2 if dm.header else 1
    if dm.header and len(dm.delimiter) == 1 and dm.delimiter != "whitespace":
        head = csv_fields(text.split("\n", 1)[0].rstrip("\r"), dm.delimiter) or []
        check_unique_header(path, [h.strip() for h in head])
    df.columns = [str(c).strip() for c in df.columns]
    lines = _physical_lines(data, dm, len(df))
    for c in df.columns:  # surrounding blanks dropped; empty -> None
        col = df[c].astype(object)
        if dm.delimiter != "whitespace":
            col = col.str.strip()
        df[c] = col.where(col.notna() & (col != ""), None)
    check_field_sizes(path, df, lines)
    df["_line"] = list(lines)
    df["_decode_error"] = df["_line"].isin(list(bad_lines)) if bad_lines else False
    data_cols = [c for c in df.columns if not str(c).startswith("_")]
    df = df.loc[df[data_cols].notna().any(axis=1)].reset_index(drop=True)  # blank lines
    if df.empty:
        raise IngestError(str(path), "the file has no rows", first)
    return RawTable(path, df)


def _physical_lines(data: bytes, dm: DatasetMapping, rows: int) -> Sequence[int]:
    """The physical line of each row read: a quoted line break does not shift the rows after it.

    Quotes are modelled for one-character delimiters in ASCII-compatible encodings; where the model does not
    count the rows the parser read (a quote inside an unquoted value), rows are numbered as read.
    """
    first = 2 if dm.header else 1
    if len(dm.delimiter) == 1 and b'"' in data:
        starts = record_starts(data, keep_blank=True)[1 if dm.header else 0 :]
        if len(starts) == rows:
            return record_lines(data, starts).tolist()
    return pd.RangeIndex(first, first + rows)


def _parser_error(path: Path, message: str) -> IngestError:
    m = _FIELDS_RE.search(message)
    if m:
        want, line, saw = m.groups()
        return IngestError(
            str(path), f"row has {saw} fields, expected {want} (check the delimiter and quoting)", int(line)
        )
    return IngestError(str(path), f"malformed delimited text: {message.strip()}")


def _cell_text(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    text = str(v).strip()
    return text or None


def _read_jsonl(path: Path, data: bytes, encoding: str) -> RawTable:
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    bad: list[bool] = []
    text, bad_lines = _decode(path, data, encoding)
    for n, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise IngestError(str(path), f"invalid JSON: {exc.msg} at column {exc.colno}", n) from None
        except RecursionError:
            col = json_depth_column(raw)
            raise IngestError(
                str(path), f"JSON nested too deeply (more than {MAX_JSON_DEPTH} levels) at column {col}", n
            ) from None
        if not isinstance(obj, dict):
            raise IngestError(str(path), "each line must be a JSON object", n)
        records.append({str(k): _cell_text(v) for k, v in obj.items()})
        lines.append(n)
        bad.append(n in bad_lines)
    if not records:
        raise IngestError(str(path), "no records", 1)
    cols = list(dict.fromkeys(k for r in records for k in r))
    df = pd.DataFrame.from_records(records, columns=cols).astype(object)
    check_field_sizes(path, df, lines)
    df = df.where(df.notna(), None)
    df["_line"] = lines
    df["_decode_error"] = bad
    return RawTable(path, df)


def _read_parquet(path: Path, data: bytes) -> RawTable:
    try:
        src = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises many kinds for a damaged file
        raise IngestError(str(path), f"not a readable Parquet file: {exc}") from None
    out = pd.DataFrame(index=src.index)
    temporal: set[str] = set()
    for c in src.columns:
        s = src[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            if getattr(s.dt, "tz", None) is not None:
                s = s.dt.tz_convert("UTC").dt.tz_localize(None)
            out[str(c)] = s.dt.strftime("%Y-%m-%dT%H:%M:%S").astype(object).where(s.notna(), None)
            temporal.add(str(c))
        else:
            values = s.astype(object)
            out[str(c)] = [_cell_text(v) for v in values]
            seen = values.dropna()
            if len(seen) and all(isinstance(v, date) for v in seen.head(100)):
                temporal.add(str(c))  # datetime.date objects: ISO text already
    out = out.reset_index(drop=True)
    out["_line"] = range(1, len(out) + 1)
    out["_decode_error"] = False
    if out.empty:
        raise IngestError(str(path), "the file has no rows", 1)
    return RawTable(path, out, temporal)
