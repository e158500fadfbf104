"""Vectorised row rules: parse an all-string chunk into the typed validation frame and compute failure masks.

Pure functions over pandas/Arrow data. The masks are computed from the kwargs of the suite's row-level
expectations (``value_set``, ``min_value``, ``regex`` ...), so the quarantine covers *every* failing row (GX's
COMPLETE result format stops at 200) while the rules stay defined once, in ``expectations/*.json``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from proactive_ml.contract import Dataset
from proactive_ml.validation.keys import duck_connection
from proactive_ml.validation.suites import Rule

_INT_RE = r"^[+-]?\d{1,18}(\.0*)?$"
_FLOAT_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?$"
_TRUE = ["true", "t", "1", "yes", "y"]
_FALSE = ["false", "f", "0", "no", "n"]
_CONDITION = re.compile(r'^\s*(\w+)\s*==\s*"([^"]*)"\s*$')


@dataclass
class ParsedChunk:
    """A chunk parsed to contract types, plus what parsing learned about it."""

    frame: pd.DataFrame  # the validation frame: typed contract columns + helper columns
    raw: dict[str, pa.Array]  # normalised raw text per contract column (empty -> null)
    unparseable: dict[str, np.ndarray] = field(default_factory=dict)  # col -> bool mask (text did not parse)


# ---------------------------------------------------------------------------------------------- parsing
def to_text(series: pd.Series) -> pa.Array:
    """A raw column as an Arrow string array; empty strings become null."""
    try:
        arr = pa.array(series, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # non-string objects slipped in: stringify them
        arr = pa.array(
            [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in series],
            type=pa.string(),
        )
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    empty = pc.equal(pc.binary_length(arr), 0)
    if pc.any(empty).as_py():
        arr = pc.if_else(empty, pa.scalar(None, pa.string()), arr)
    return arr


def _np_bool(arr: pa.Array) -> np.ndarray:
    return np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


_ISO_RE = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?$"


def _pandas_iso(text: pa.Array) -> pa.Array:
    """Slow path for a few values: ISO 8601 with offsets (-> naive UTC); anything else -> null."""
    vals = pd.Series(text.to_pylist(), dtype=object)
    parsed = pd.to_datetime(vals, format="ISO8601", utc=True, errors="coerce").dt.tz_convert(None)
    return pa.array(parsed.to_numpy().astype("datetime64[us]"), type=pa.timestamp("us"))


def _parse_timestamps(text: pa.Array) -> pa.Array:
    """ISO 8601 timestamps; unparseable -> null.

    Arrow's strict cast takes the plain forms (rejects 2026-02-30), pandas the rest (offsets, ``Z``; converted to
    naive UTC).
    """
    plain = pc.match_substring_regex(text, _ISO_RE)
    cand = pc.if_else(plain, text, pa.scalar(None, pa.string()))
    try:
        out = pc.cast(cand, pa.timestamp("us"))
    except pa.ArrowInvalid:  # an impossible calendar date somewhere: let pandas sort them out
        out = _pandas_iso(cand)
    retry = _np_bool(pc.and_(pc.is_valid(text), pc.invert(plain.fill_null(False))))
    if retry.any():
        idx = np.flatnonzero(retry)
        fixed = _pandas_iso(text.take(pa.array(idx)))
        arr = out.to_numpy(zero_copy_only=False).astype("datetime64[us]")
        arr[idx] = fixed.to_numpy(zero_copy_only=False)
        out = pa.array(arr, type=pa.timestamp("us"))
    return out


def _try_cast(text: pa.Array, target: pa.DataType) -> pa.Array | None:
    """Arrow's strict cast of a whole column, or None if any value does not parse (then take the slow path)."""
    try:
        return pc.cast(text, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def parse_column(text: pa.Array, type_: str) -> tuple[pa.Array, np.ndarray]:
    """Parse one text column to its contract type. Returns (typed Arrow array, unparseable mask).

    Fast path: one strict Arrow cast of the column (clean data). Slow path when any value fails: trim, match the
    type's pattern, cast what matches; values that still fail are unparseable.
    """
    if type_ == "string":
        return text, np.zeros(len(text), dtype=bool)
    typed: pa.Array | None = None
    if type_ == "int":
        typed = _try_cast(text, pa.int64())
        if typed is None:
            trimmed = pc.utf8_trim_whitespace(text)
            ok = pc.match_substring_regex(trimmed, _INT_RE)
            digits = pc.replace_substring_regex(
                pc.if_else(ok, trimmed, pa.scalar(None, pa.string())), r"\.0*$", ""
            )
            typed = pc.cast(digits, pa.int64())
    elif type_ == "float":
        typed = _try_cast(text, pa.float64())
        if typed is None:
            trimmed = pc.utf8_trim_whitespace(text)
            ok = pc.match_substring_regex(trimmed, _FLOAT_RE)
            typed = pc.cast(pc.if_else(ok, trimmed, pa.scalar(None, pa.string())), pa.float64())
        finite = pc.is_finite(typed)  # nan / inf are not amounts
        typed = pc.if_else(finite.fill_null(False), typed, pa.scalar(None, pa.float64()))
    elif type_ == "bool":
        low = pc.utf8_lower(pc.utf8_trim_whitespace(text))
        is_true = pc.is_in(low, value_set=pa.array(_TRUE))
        is_false = pc.is_in(low, value_set=pa.array(_FALSE))
        typed = pc.if_else(is_true, True, pc.if_else(is_false, False, pa.scalar(None, pa.bool_())))
    elif type_ == "timestamp":
        typed = _try_cast(text, pa.timestamp("us"))
        if typed is None:
            typed = _parse_timestamps(pc.utf8_trim_whitespace(text))
    elif type_ == "date":
        ts = _try_cast(text, pa.timestamp("us"))
        if ts is None:
            ts = _parse_timestamps(pc.utf8_trim_whitespace(text))
        typed = pc.cast(pc.floor_temporal(ts, unit="day"), pa.date32())
    else:
        raise ValueError(f"unknown contract type {type_!r}")
    bad = _np_bool(pc.and_(pc.is_valid(text), pc.is_null(typed)))
    return typed, bad


def to_pandas_typed(arr: pa.Array, type_: str) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """Arrow typed values -> the pandas dtype of the typed frame.

    The dtypes: Int64, float64, bool/boolean, datetime64[us], date objects, str.
    """
    if type_ == "int":
        mask = _np_bool(pc.is_null(arr))
        return pd.arrays.IntegerArray(arr.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64), mask)
    if type_ == "float":
        return arr.to_numpy(zero_copy_only=False).astype(np.float64)
    if type_ == "bool":
        mask = _np_bool(pc.is_null(arr))
        values = _np_bool(arr)
        if mask.any():
            return pd.arrays.BooleanArray(values, mask)
        return values
    if type_ == "timestamp":
        return arr.to_numpy(zero_copy_only=False).astype("datetime64[us]")
    if type_ == "date":
        return np.array(arr.to_pylist(), dtype=object)
    return pd.array(arr, dtype="str")


MARK_JOIN_ROWS = 200_000  # from this many values on, foreign keys are probed by DuckDB's parallel join


def known_mask(text: pa.Array, ids: pa.Array | None) -> np.ndarray:
    """True where a foreign-key value is one of ``ids`` (one hash table of ``ids``, probed by every value).

    A large column is probed by DuckDB (a mark join of the values against ``ids``, on every core; Arrow's
    ``is_in`` runs on one thread at ~300 ns a value); the answer is the same (:func:`known_mask_arrow`).
    """
    if ids is None or len(text) < MARK_JOIN_ROWS or not len(ids) or ids.null_count:
        return known_mask_arrow(text, ids)
    fk_values = pa.table({"v": text.cast(pa.string())})  # noqa: F841 - read by DuckDB's replacement scan
    fk_refs = pa.table({"id": ids.cast(pa.string())})  # noqa: F841 - read by DuckDB's replacement scan
    con = duck_connection().cursor()
    try:  # a projection of one scan keeps the rows' order (DuckDB preserves insertion order by default)
        out = con.sql("SELECT v IN (SELECT id FROM fk_refs) AS m FROM fk_values").to_arrow_table().column(0)
    finally:
        con.close()
    mask = _np_bool(out.combine_chunks())
    if len(mask) != len(text):
        raise AssertionError("foreign-key probe lost rows")
    return mask


def known_mask_arrow(text: pa.Array, ids: pa.Array | None) -> np.ndarray:
    """:func:`known_mask` by Arrow's ``is_in`` (small columns; the reference the DuckDB probe is pinned to)."""
    return _np_bool(pc.is_in(text, value_set=ids if ids is not None else pa.array([], pa.string())))


def parse_chunk(
    dataset: Dataset,
    raw: pd.DataFrame,
    known: Mapping[str, pa.Array] | None = None,
    known_rows: Mapping[str, np.ndarray] | None = None,
) -> ParsedChunk:
    """Build the validation frame of one raw chunk (index reset to 0..n-1).

    ``known``: for each foreign-key column, the Arrow array of referenced ids (warehouse + same batch);
    ``known_rows``: the answer already looked up for this chunk's rows (a bool per row), when the whole batch
    was checked at once (one hash table of the referenced ids per batch instead of one per chunk).
    """
    n = len(raw)
    cols: dict[str, Any] = {}
    texts: dict[str, pa.Array] = {}
    unparseable: dict[str, np.ndarray] = {}
    for c in dataset.columns:
        text = to_text(raw[c.name]) if c.name in raw.columns else pa.nulls(n, pa.string())
        texts[c.name] = text
        typed, bad = parse_column(text, c.type)
        if bad.any():
            unparseable[c.name] = bad
        cols[c.name] = to_pandas_typed(typed, c.type)
    frame = pd.DataFrame(cols)
    dec = raw["_decode_error"] if "_decode_error" in raw.columns else None
    frame["_decode_error"] = (
        np.zeros(n, dtype=bool)
        if dec is None
        else np.asarray(dec.fillna(False).astype(bool).to_numpy(), dtype=bool)
    )
    if unparseable:
        names = np.full(n, None, dtype=object)
        anyb = np.zeros(n, dtype=bool)
        for m in unparseable.values():
            anyb |= m
        for i in np.flatnonzero(anyb):
            names[i] = ",".join(c for c, m in unparseable.items() if m[i])
        flags = pa.array(names, type=pa.string(), from_pandas=True)
    else:
        flags = pa.nulls(n, pa.string())
    frame["_unparseable"] = pd.array(flags, dtype="str")
    for col in dataset.foreign_keys:
        text = texts[col]
        if known_rows is not None and col in known_rows:  # looked up once for the whole batch
            inset = known_rows[col]
        else:
            inset = known_mask(text, known.get(col) if known else None)
        frame[f"_known_{col}"] = pd.arrays.BooleanArray(inset, _np_bool(pc.is_null(text)))
    return ParsedChunk(frame=frame, raw=texts, unparseable=unparseable)


# ---------------------------------------------------------------------------------------------- masks
def condition_mask(frame: pd.DataFrame, kwargs: Mapping[str, Any]) -> np.ndarray:
    """Rows where the rule's ``row_condition`` (``col=="value"``) holds; every row when there is none."""
    cond = kwargs.get("row_condition")
    if not cond:
        return np.ones(len(frame), dtype=bool)
    m = _CONDITION.match(str(cond))
    if not m:
        raise ValueError(f'unsupported row_condition {cond!r}: use col=="value"')
    col, value = m.groups()
    return np.asarray((frame[col] == value).fillna(False).to_numpy(), dtype=bool)


def _notna(s: pd.Series) -> np.ndarray:
    return np.asarray(s.notna().to_numpy(), dtype=bool)


def _compare(values: pd.Series, bound: Any, op: str) -> np.ndarray:
    if isinstance(bound, (datetime, pd.Timestamp)) and values.dtype.kind == "M":
        bound = np.datetime64(pd.Timestamp(bound).to_datetime64(), "us")
    elif isinstance(bound, date) and values.dtype == object:
        out = np.zeros(len(values), dtype=bool)
        arr = values.to_numpy()
        for i, v in enumerate(arr):
            if v is not None and v == v:
                out[i] = v < bound if op == "lt" else v > bound
        return out
    res = values < bound if op == "lt" else values > bound
    if isinstance(res, pd.Series):
        res = res.to_numpy()
    return np.asarray(pd.array(res, dtype="boolean").fillna(False), dtype=bool)


def rule_mask(rule: Rule, frame: pd.DataFrame, params: Mapping[str, Any]) -> np.ndarray:
    """Rows of ``frame`` that fail ``rule`` (GX semantics: nulls pass every rule except not-null).

    The uniqueness rule is not handled here (see :class:`~proactive_ml.validation.keys.KeyTracker`: first occurrence kept).
    """
    kw = {
        k: (params[v["$PARAMETER"]] if isinstance(v, dict) and "$PARAMETER" in v else v)
        for k, v in rule.kwargs.items()
    }
    t = rule.type
    if t == "expect_column_values_to_not_be_null":
        return ~_notna(frame[kw["column"]])
    if t == "expect_column_values_to_be_null":
        return _notna(frame[kw["column"]])
    if t == "expect_column_values_to_be_in_set":
        s = frame[kw["column"]]
        inset = s.isin(kw["value_set"]).to_numpy()
        return _notna(s) & ~np.asarray(inset, dtype=bool)
    if t == "expect_column_values_to_be_between":
        s = frame[kw["column"]]
        bad = np.zeros(len(frame), dtype=bool)
        if kw.get("min_value") is not None:
            bad |= _compare(s, kw["min_value"], "lt")
        if kw.get("max_value") is not None:
            bad |= _compare(s, kw["max_value"], "gt")
        return bad & _notna(s) & condition_mask(frame, kw)
    if t == "expect_column_values_to_match_regex":
        s = frame[kw["column"]]
        text = pa.array(s, type=pa.string(), from_pandas=True)
        ok = _np_bool(pc.match_substring_regex(text, kw["regex"]))
        return _notna(s) & ~ok
    if t == "expect_column_value_lengths_to_be_between":
        s = frame[kw["column"]]
        present = _notna(s)
        lengths = np.asarray(
            s.map(lambda v: len(v) if isinstance(v, str) else len(str(v))).to_numpy(), dtype=float
        )
        bad = np.zeros(len(frame), dtype=bool)
        if kw.get("min_value") is not None:
            bad |= lengths < kw["min_value"]
        if kw.get("max_value") is not None:
            bad |= lengths > kw["max_value"]
        return bad & present
    if t == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = frame[kw["column_A"]], frame[kw["column_B"]]
        both = _notna(a) & _notna(b)
        ok = (a >= b) if kw.get("or_equal") else (a > b)
        return both & ~np.asarray(pd.array(np.asarray(ok), dtype="boolean").fillna(True), dtype=bool)
    raise ValueError(f"row rule {t!r} has no vectorised mask; add one to proactive_ml.validation.rules")
