"""Readable reasons for quarantined rows: for each row that failed a rule, the column and a sentence a person reads.

Pure functions over one parsed chunk. Values are fetched in bulk per rule (an Arrow ``take``), not per cell.
Rules without a reason of their own read ``failed <rule name>``. Values of PII columns are masked (see
:mod:`proactive_ml.validation.masking`): a reason names the column and the problem, never the person.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from proactive_ml.contract import Dataset
from proactive_ml.validation.masking import placeholder
from proactive_ml.validation.rules import ParsedChunk
from proactive_ml.validation.suites import Rule

ENCODING_REASON = "row contains bytes that are not valid UTF-8 (decoded with replacement)"

# (columns, reasons): one entry per failing row
Reasons = tuple[list[str], list[str]]


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "<empty>"
    return repr(v)


@dataclass
class Failing:
    """The rows of one chunk that failed one rule, with what a reason needs to name them."""

    rule: Rule
    parsed: ParsedChunk
    ridx: np.ndarray
    dataset: Dataset
    params: Mapping[str, Any]
    _take: pa.Array = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._take = pa.array(self.ridx, type=pa.int64())

    @property
    def n(self) -> int:
        """How many rows failed."""
        return len(self.ridx)

    @property
    def column(self) -> str:
        """The rule's column (empty for rules over several columns)."""
        return str(self.rule.kwargs.get("column") or "")

    def values(self, column: str) -> list[str]:
        """The failing rows' raw text of ``column``, formatted for a sentence (``<empty>`` for null).

        Values of a PII column (an address, a name, free text) are masked: ``'<masked email>'``.
        """
        if column not in self.parsed.raw:
            return ["<n/a>"] * self.n
        values = self.parsed.raw[column].take(self._take).to_pylist()
        token = placeholder(column)
        if token is not None:
            return [_fmt(v) if _fmt(v) == "<empty>" else repr(token) for v in values]
        return [_fmt(v) for v in values]

    def bound(self, name: str) -> Any:
        """A rule bound (``min_value``/``max_value``), with suite parameters filled in."""
        value = self.rule.kwargs.get(name)
        return self.params[value["$PARAMETER"]] if isinstance(value, dict) else value


def _type(f: Failing) -> Reasons:
    types = f.rule.meta.get("contract_types", {})
    parts: list[list[str]] = [[] for _ in range(f.n)]
    cols: list[list[str]] = [[] for _ in range(f.n)]
    for c, m in f.parsed.unparseable.items():
        t = types.get(c, f.dataset.column(c).type)
        for j, (hit, v) in enumerate(zip(m[f.ridx], f.values(c), strict=True)):
            if hit:
                parts[j].append(f"{c}={v} is not a valid {t}")
                cols[j].append(c)
    return [",".join(c) for c in cols], [", ".join(p) for p in parts]


def _foreign_key(f: Failing) -> Reasons:
    fk = str(f.rule.meta.get("column"))
    ref = f.rule.meta.get("references", "reference")
    return [fk] * f.n, [f"{fk}={v} is not a known {ref}" for v in f.values(fk)]


def _unique(f: Failing) -> Reasons:
    key = f.dataset.key
    per_col = [f.values(c) for c in key]
    keys = [", ".join(f"{c}={v}" for c, v in zip(key, vs, strict=True)) for vs in zip(*per_col, strict=True)]
    return [",".join(key)] * f.n, [f"duplicate key ({k}) of an earlier row in this batch" for k in keys]


def _encoding(f: Failing) -> Reasons:
    return [""] * f.n, [ENCODING_REASON] * f.n


def _required(f: Failing) -> Reasons:
    col = f.column
    return [col] * f.n, [
        f"required {col} is empty" if v == "<empty>" else f"required {col}={v} could not be parsed"
        for v in f.values(col)
    ]


def _enum(f: Failing) -> Reasons:
    col = f.column
    allowed = ", ".join(map(str, f.rule.kwargs["value_set"]))
    return [col] * f.n, [f"{col}={v} is not one of {allowed}" for v in f.values(col)]


def _future(f: Failing) -> Reasons:
    col, hi = f.column, f.bound("max_value")
    return [col] * f.n, [f"{col}={v} is in the future (after {hi})" for v in f.values(col)]


def _range(f: Failing) -> Reasons:
    col, lo, hi = f.column, f.bound("min_value"), f.bound("max_value")
    bounds = f">= {lo}" if hi is None else (f"<= {hi}" if lo is None else f"between {lo} and {hi}")
    cond = f" when {f.rule.kwargs['row_condition']}" if f.rule.kwargs.get("row_condition") else ""
    return [col] * f.n, [f"{col}={v} is out of range (must be {bounds}{cond})" for v in f.values(col)]


def _email(f: Failing) -> Reasons:
    col = f.column
    return [col] * f.n, [f"{col}={v} is not a well-formed email address" for v in f.values(col)]


def _order(f: Failing) -> Reasons:
    a, b = f.rule.kwargs["column_A"], f.rule.kwargs["column_B"]
    return [f"{a},{b}"] * f.n, [
        f"{a}={va} is before {b}={vb}" for va, vb in zip(f.values(a), f.values(b), strict=True)
    ]


_BY_RULE: dict[str, Callable[[Failing], Reasons]] = {
    "type": _type,
    "foreign_key": _foreign_key,
    "unique": _unique,
    "encoding": _encoding,
    "required": _required,
    "enum": _enum,
    "range": _range,
    "future": _future,
    "email": _email,
    "order": _order,
}


def failure_reasons(
    rule: Rule, parsed: ParsedChunk, ridx: np.ndarray, dataset: Dataset, params: Mapping[str, Any]
) -> Reasons:
    """(column, reason) for each failing row of one rule.

    Args:
        rule: The row rule the rows failed.
        parsed: The parsed chunk (its raw text is quoted in the reasons).
        ridx: Positions of the failing rows in the chunk.
        dataset: The contract dataset (types and key).
        params: Suite parameters of the row rules (``max_timestamp`` ...).

    Returns:
        Two lists, one entry per failing row: the column(s) at fault and the reason.
    """
    failing = Failing(rule, parsed, ridx, dataset, params)
    explain = _BY_RULE.get(str(rule.meta.get("rule")))
    if explain is None:
        return [failing.column] * failing.n, [f"failed {rule.name}"] * failing.n
    return explain(failing)
