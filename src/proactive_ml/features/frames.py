"""Feature queries' rows as data frames indexed by customer id, the cheapest way each backend allows.

:func:`run_query` is the plain way (the backend's own data frame). :func:`query_frame` reads DuckDB's result as
Arrow and turns each column into NumPy directly: pandas' own conversion makes Arrow-backed text that every later
step converts again (seconds at a million customers). Both give the same features
(``tests/features/test_fast_paths.py``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa


def used_params(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """Only the parameters that ``sql`` names (DuckDB refuses extra ones)."""
    return {k: v for k, v in params.items() if re.search(rf":{k}\b", sql)}


def run_query(wh: Any, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    """Run ``sql`` with the subset of ``params`` it uses."""
    return wh.query(sql, used_params(sql, params))


def arrow_column(col: pa.ChunkedArray) -> Any:
    """One column of an Arrow result as the values pandas' own conversion gives after ``astype(object)``.

    Text as Python strings (missing: NaN), whole numbers as nullable Int64, dates and timestamps as
    ``datetime64[us]``, floats as float64 (missing: NaN).
    """
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        values = col.to_numpy(zero_copy_only=False)
        return np.where(pd.isna(values), np.nan, values).astype(object) if col.null_count else values
    if pa.types.is_integer(t):
        values = col.fill_null(0).to_numpy()  # exact: NumPy would make a column with nulls float
        return pd.arrays.IntegerArray(values, col.is_null().to_numpy(zero_copy_only=False))
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return col.cast(pa.timestamp("us")).to_numpy(zero_copy_only=False)
    return col.to_numpy(zero_copy_only=False)


def pandas_frame(wh: Any, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    """The rows of ``sql`` through the backend's data frame, indexed by ``customer_id`` (plain object ids)."""
    df = run_query(wh, sql, params).set_index("customer_id")
    # plain object ids from the start: every later alignment on an Arrow-backed index would convert it again
    df.index = df.index.astype(object)
    return df


def query_frame(wh: Any, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    """The rows of ``sql`` indexed by ``customer_id`` (plain object ids): Arrow on DuckDB, else :func:`pandas_frame`."""
    if wh.backend != "duckdb":
        return pandas_frame(wh, sql, params)
    table = wh.query_arrow(sql, used_params(sql, params))
    ids = table.column("customer_id").to_numpy(zero_copy_only=False)
    columns = {name: arrow_column(table.column(name)) for name in table.column_names if name != "customer_id"}
    return pd.DataFrame(columns, index=pd.Index(ids, dtype=object, name="customer_id"))
