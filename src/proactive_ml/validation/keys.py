"""Duplicate natural keys across the chunks of one batch: the first occurrence of a key is kept, later ones fail.

Keys are hashed to 64 bits (DuckDB ``hash`` of the typed key columns) and remembered in a pandas hash table sized
for the whole batch up front, so 10M keys cost ~80 MB and no rehashing. A 64-bit collision would quarantine a
distinct row as a duplicate: ~3e-6 chance at 10M rows. The in-memory DuckDB used for hashing (one per process)
lives here too.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from pandas._libs import hashtable

_DUCK: list[Any] = []
_DUCK_LOCK = threading.Lock()
PRESIZE_ROWS = 16_000_000  # the key table is sized up front for at most this many rows (~0.5 GB), then grows


def duck_connection() -> Any:
    """One in-memory DuckDB per process for key hashing (each tracker takes its own cursor)."""
    with _DUCK_LOCK:
        if not _DUCK:
            _DUCK.append(duckdb.connect())
            atexit.register(_close_duck)
        return _DUCK[0]


def _close_duck() -> None:
    """Close and drop the key-hashing connection before the interpreter tears modules down.

    A DuckDB connection still referenced by a module global when DuckDB's bindings are finalized makes them print
    "nanobind: leaked instances/types/functions" at the end of every run that ingested anything.
    """
    with _DUCK_LOCK:
        while _DUCK:
            _DUCK.pop().close()


def _notna(s: pd.Series) -> np.ndarray:
    return np.asarray(s.notna().to_numpy(), dtype=bool)


class KeyTracker:
    """Duplicate keys across the chunks of one batch: the first occurrence is kept, later ones fail."""

    def __init__(self, key: tuple[str, ...], expected_rows: int | None = None) -> None:
        self.key = key
        self._con: Any = None
        # sized for the batch up front (up to PRESIZE_ROWS): no rehashing of millions of keys while it grows
        hint = min(expected_rows or 0, PRESIZE_ROWS)
        self._table = hashtable.UInt64HashTable(hint) if hint else hashtable.UInt64HashTable()
        self._seen = 0

    def _hash(self, frame: pd.DataFrame) -> np.ndarray:
        cols = {}
        for i, k in enumerate(self.key):
            s = frame[k]
            if s.dtype.kind == "M":
                cols[f"k{i}"] = pa.array(s.to_numpy().view(np.int64))
            else:
                cols[f"k{i}"] = pa.array(s, from_pandas=True)
        tb = pa.table(cols)  # noqa: F841 - read by DuckDB's replacement scan
        expr = ", ".join(f"k{i}" for i in range(len(self.key)))
        if self._con is None:
            self._con = duck_connection().cursor()
        out = self._con.sql(f"SELECT hash({expr}) AS h FROM tb").to_arrow_table().column(0)
        return np.asarray(out.to_numpy(), dtype=np.uint64)

    def later_duplicates(self, frame: pd.DataFrame) -> np.ndarray:
        """Mask of rows whose key appeared earlier in this chunk or in an earlier chunk (null keys: never)."""
        n = len(frame)
        complete = np.ones(n, dtype=bool)
        for k in self.key:
            complete &= _notna(frame[k])
        idx = np.flatnonzero(complete)
        out = np.zeros(n, dtype=bool)
        if len(idx) == 0:
            return out
        h = self._hash(frame.iloc[idx] if len(idx) < n else frame)
        # one hash-table pass: labels are handed out in order of first appearance, so a row is the first
        # occurrence of its key iff its label is new (above every label seen before it)
        labels = np.asarray(
            self._table.get_labels(h, hashtable.UInt64Vector(), self._seen, -1), dtype=np.int64
        )
        prev_max = np.maximum.accumulate(np.concatenate(([self._seen - 1], labels[:-1])))
        self._seen = len(self._table)
        out[idx] = labels <= prev_max
        return out
