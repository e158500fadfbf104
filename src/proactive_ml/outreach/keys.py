"""Customer ids matched by Arrow's hash kernels: joins over a million text ids without a Python object per id.

pandas hashes Arrow-backed text by first turning it into Python objects (each merge, reindex or ``get_indexer`` over
a million ids costs a second or more); Arrow hashes the text where it lies. Ids that are not all text (numbers, mixed
objects) go through pandas, with the same result.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _text(values: pd.Series | pd.Index) -> pa.Array | None:
    """The values as one Arrow large-text array, or None when they are not all text (missing values allowed)."""
    if not len(values):
        return pa.array([], type=pa.large_string())
    if not pd.api.types.is_string_dtype(values):
        return None
    arr = pa.array(values, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.large_string())


def shared_codes(*columns: pd.Series | pd.Index) -> list[np.ndarray]:
    """One integer code per value of each column, equal ids equal codes across all columns; -1 where missing."""
    arrays = [_text(c) for c in columns]
    if all(a is not None for a in arrays):
        joined = pa.chunked_array(arrays, type=pa.large_string()).combine_chunks()
        encoded = joined.dictionary_encode().indices
        codes = pc.fill_null(encoded, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    else:
        together = pd.concat([pd.Series(np.asarray(c, dtype=object)) for c in columns], ignore_index=True)
        codes = pd.factorize(together)[0].astype(np.int64)
    return np.split(codes, np.cumsum([len(c) for c in columns])[:-1])


def positions(values: pd.Series | pd.Index, keys: pd.Series | pd.Index) -> np.ndarray:
    """For each value, the position of its first occurrence in ``keys``; -1 where absent or missing."""
    v, k = _text(values), _text(keys)
    if v is not None and k is not None:
        pos = pc.index_in(v, value_set=k, skip_nulls=True)
        return np.asarray(pc.fill_null(pos, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    key_index = pd.Index(keys)
    first = np.flatnonzero(~key_index.duplicated(keep="first"))
    found = key_index[first].get_indexer(pd.Index(values))
    return np.where(found >= 0, first[np.maximum(found, 0)], -1)


def last_positions(values: pd.Series | pd.Index, keys: pd.Series | pd.Index) -> np.ndarray:
    """For each value, the position of its last occurrence in ``keys``; -1 where absent or missing."""
    found = positions(values, keys[::-1])
    return np.where(found >= 0, len(keys) - 1 - found, -1)


def repeats(values: pd.Series | pd.Index) -> bool:
    """True when some id occurs twice (missing ids count as one id, as in a merge)."""
    text = _text(values)
    if text is None:
        return bool(pd.Index(values).has_duplicates)
    return bool(len(pc.unique(text)) < len(text))  # a missing id is one value of unique's, as in a merge


def same_ids(a: pd.Series | pd.Index, b: pd.Series | pd.Index) -> bool:
    """True when both hold the same text ids in the same order (compared where they lie, no hashing)."""
    x, y = _text(a), _text(b)
    return x is not None and y is not None and x.equals(y)


def attach(left: pd.DataFrame, right: pd.DataFrame, at: np.ndarray) -> pd.DataFrame:
    """``left`` (renumbered) with the columns of ``right``'s rows at positions ``at``; -1 gives missing values.

    What ``left.merge(right, how="left")`` gives when each left row matches at most one right row (missing values
    filled and columns widened the same way, by reindexing).
    """
    taken = right.reset_index(drop=True).reindex(at).reset_index(drop=True)
    return pd.concat([left.reset_index(drop=True), taken], axis=1)
