"""Structure checks of text landing files, shared by both readers (landing convention and mapped sources).

Pure functions over a file's bytes or its parsed frame, each naming what is wrong with file, line and column:

* :func:`record_starts` / :func:`record_lines` -- where each CSV record starts (line breaks inside quotes do not
  end a record; blank lines are no record), so quarantine line numbers are physical lines whatever the file holds;
* :func:`check_field_sizes` -- a field longer than ``MAX_FIELD_CHARS`` refuses the file (Python's csv module
  stops there with a traceback; no landing value is that long);
* :func:`check_unique_header` -- a column named twice in the header;
* :func:`json_depth_column` -- where a JSON line nests deeper than the parser can follow.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from proactive_ml.errors import IngestError

MAX_FIELD_CHARS = 131_072  # Python's csv field limit: a longer cell is no landing value
MAX_JSON_DEPTH = 500  # for the message only: json gives up near the interpreter's recursion limit
_NL, _CR, _QUOTE = 10, 13, 34


def record_starts(data: bytes, keep_blank: bool = False) -> np.ndarray:
    """Byte offsets of every non-blank CSV record, the header's included (quoted line breaks do not count).

    ``keep_blank`` keeps blank lines as records (a parser told not to skip them).
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(arr == _NL)
    if b'"' in data:
        inside = np.bitwise_xor.accumulate((arr == _QUOTE).view(np.uint8))
        nl = nl[inside[nl] == 0]
    starts = np.concatenate((np.zeros(1, dtype=np.int64), nl + 1))
    starts = starts[starts < len(arr)]
    if keep_blank:
        return starts
    first = arr[starts]
    after = arr[np.minimum(starts + 1, len(arr) - 1)]
    blank = (first == _NL) | ((first == _CR) & (after == _NL))
    return starts[~blank]


def record_lines(data: bytes, starts: np.ndarray) -> np.ndarray:
    """The physical (1-based) line of each record start."""
    arr = np.frombuffer(data, dtype=np.uint8)
    return np.searchsorted(np.flatnonzero(arr == _NL), starts, side="left") + 1


def csv_fields(text: str, delimiter: str = ",") -> list[str] | None:
    """The fields of one CSV record, or None when a field is longer than the csv module's limit."""
    try:
        return next(csv.reader([text], delimiter=delimiter), [])
    except csv.Error:
        return None


def check_unique_header(path: Path, columns: Sequence[str], line: int = 1) -> None:
    """A column named twice in the header refuses the file, naming it (not a later 'truncated' line)."""
    seen: dict[str, int] = {}
    for i, c in enumerate(columns, start=1):
        if c in seen:
            raise IngestError(
                str(path),
                f"duplicated header: column {c!r} appears twice (positions {seen[c]} and {i})",
                line,
                c,
            )
        seen[c] = i


def check_field_sizes(path: Path, frame: pd.DataFrame, lines: Sequence[int] | np.ndarray) -> None:
    """A text field longer than ``MAX_FIELD_CHARS`` refuses the file, naming its line and column."""
    for c in frame.columns:
        s = frame[c]
        if str(c).startswith("_") or not (pd.api.types.is_string_dtype(s) or s.dtype == object):
            continue
        if _bytes_within(
            s, MAX_FIELD_CHARS
        ):  # no value has that many bytes, so none has that many characters
            continue
        try:
            sizes = s.str.len().fillna(0).to_numpy()  # non-text values (JSON numbers) count as 0
        except AttributeError:  # no text in the column at all
            continue
        if len(sizes) and sizes.max() > MAX_FIELD_CHARS:
            i = int(np.argmax(sizes > MAX_FIELD_CHARS))
            raise IngestError(
                str(path),
                f"field of {int(sizes[i]):,} characters (at most {MAX_FIELD_CHARS:,})",
                int(lines[i]),
                str(c),
            )


def _bytes_within(s: pd.Series, limit: int) -> bool:
    """True when ``s`` is Arrow-backed text whose longest value has at most ``limit`` bytes (no copy made)."""
    if not hasattr(s.array, "__arrow_array__"):
        return False
    longest = pc.max(pc.binary_length(pa.array(s.array))).as_py()
    return longest is None or int(longest) <= limit


def valid_utf8(data: bytes, chunk: int = 1 << 20) -> bool:
    """True when every byte sequence is valid UTF-8 (checked in chunks, no decoded copy of the file)."""
    dec = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for i in range(0, len(data), chunk):
            dec.decode(view[i : i + chunk])
        dec.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def json_depth_column(line: str, limit: int = MAX_JSON_DEPTH) -> int:
    """The (1-based) character column where a JSON line's nesting first exceeds ``limit`` (1 if it never does)."""
    depth, in_string, escaped = 0, False, False
    for i, ch in enumerate(line, start=1):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return i
        elif ch in "]}":
            depth -= 1
    return 1
