"""Typed Arrow columns (a Parquet landing file) as the text validation reads, without a Python loop per value.

Validation parses every landing column from text, so a typed Parquet column is first rendered as text. The text
is what ``str()`` of each Python value gives (so quarantined rows show the same values as before), except
timestamps, which are ISO ``YYYY-MM-DDTHH:MM:SS`` in UTC (an instant with an offset is stored as UTC, not wall
time) and not-a-number is missing, as pandas reads it. Arrow's casts do the work in C++; only values Arrow renders differently from Python (floats below 1e-3 or
from 1e10 up, infinities) and types Arrow cannot cast to text go through ``str()`` one by one.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def text_frame(table: pa.Table, columns: list[str]) -> pd.DataFrame:
    """``columns`` of ``table`` as Arrow-backed text columns (absent columns are all empty)."""
    present = [c for c in columns if c in table.column_names]
    workers = max(1, min(len(present), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:  # Arrow's kernels free the GIL: columns in parallel
        rendered = pool.map(lambda c: column_text(table.column(c).combine_chunks()), present)
        texts = dict(zip(present, rendered, strict=True))
    out = {c: texts[c] if c in texts else pa.nulls(table.num_rows, pa.string()) for c in columns}
    return pa.table(out).to_pandas() if out else pd.DataFrame(index=pd.RangeIndex(table.num_rows))


def column_text(arr: pa.Array) -> pa.Array:
    """One typed column as text (nulls stay null)."""
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.cast(t.value_type)
        t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return arr.cast(pa.string())
    if pa.types.is_timestamp(t):
        naive = arr.cast(pa.timestamp(t.unit)) if t.tz is not None else arr  # the UTC instant, as stored
        return _timestamp_text(naive)
    if pa.types.is_date(t) or pa.types.is_integer(t):
        return arr.cast(pa.string())
    if pa.types.is_boolean(t):
        return pc.if_else(arr, pa.scalar("True"), pa.scalar("False"))
    if pa.types.is_floating(t):
        values = arr.cast(pa.float64())
        missing = pc.is_nan(values).fill_null(False)  # not-a-number is a missing value, as pandas reads it
        return _float_text(pc.if_else(missing, pa.scalar(None, pa.float64()), values))
    return _python_text(arr)


_YEAR_10000 = 253_402_300_800  # seconds from 1970 to 10000-01-01: four-digit years before it


def _timestamp_text(naive: pa.Array) -> pa.Array:
    """Timestamps as ``YYYY-MM-DDTHH:MM:SS``, floored to the second.

    From 1970 to 9999 (every landing file) truncating to seconds is flooring and the space is the 11th
    character, so one unchecked cast and one slice replacement do it; other times take the general kernels.
    """
    seconds = naive.cast(pa.timestamp("s"), safe=False)  # truncates toward zero: flooring from 1970 on
    lo = pc.min(naive.cast(pa.int64())).as_py()
    hi = pc.max(seconds.cast(pa.int64())).as_py()
    if lo is None or (lo >= 0 and hi < _YEAR_10000):
        return pc.utf8_replace_slice(seconds.cast(pa.string()), 10, 11, "T")
    seconds = pc.floor_temporal(naive, unit="second").cast(pa.timestamp("s"))
    return pc.replace_substring(seconds.cast(pa.string()), " ", "T", max_replacements=1)


def _float_text(arr: pa.Array) -> pa.Array:
    """Floats as Python's ``str`` writes them ("1.0", "2.5", "1e-05")."""
    text = arr.cast(pa.string())
    plain = pc.invert(pc.match_substring_regex(text, r"[.eni]"))  # "1" -> "1.0", as Python writes it
    text = pc.if_else(plain, pc.binary_join_element_wise(text, pa.scalar(".0"), ""), text)
    size = pc.abs(arr)
    odd = pc.or_(
        pc.invert(pc.is_finite(arr)),
        pc.and_(pc.greater(size, 0.0), pc.or_(pc.less(size, 1e-3), pc.greater_equal(size, 1e10))),
    ).fill_null(False)
    if not pc.any(odd).as_py():
        return text
    idx = np.flatnonzero(odd.to_numpy(zero_copy_only=False))
    fixed = pa.array([str(v) for v in arr.take(pa.array(idx)).to_pylist()], type=pa.string())
    return pc.replace_with_mask(text, odd, fixed)


def _python_text(arr: pa.Array) -> pa.Array:
    """Types Arrow does not cast to text (decimals, lists, binary ...): ``str()`` of each value."""
    return pa.array([None if v is None else str(v) for v in arr.to_pylist()], type=pa.string())


def has_nul(arr: pa.Array | pa.ChunkedArray) -> bool:
    """True if any text value holds a NUL byte.

    A string array's value bytes are scanned at memory speed: no NUL anywhere in the buffer means none in any
    value; a buffer that does hold one (or another type) is checked value by value, as before.
    """
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    for chunk in chunks:
        if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            return bool(pc.any(pc.match_substring(arr, "\x00")).as_py())
        data = chunk.buffers()[2]
        if data is None or not data.size:
            continue
        values = np.frombuffer(data, dtype=np.uint8)
        if np.count_nonzero(values) < len(values) and pc.any(pc.match_substring(chunk, "\x00")).as_py():
            return True
    return False
