"""Turn a company's rows into the contract's all-text rows: renames, casts, constants, defaults, aggregation.

The output is what a landing file in the contract's own layout would have been: text columns named as the
contract, ``_line`` and ``_decode_error``. It goes through the same validation (GX suites, quarantine, gates) as
any landing file. A value that fails its declared cast (a date not in its format, a flag in neither the true
nor the false list, a number that is not one) keeps its text with the reason appended, e.g.
``31/02/2024 (first_seen: does not match %d/%m/%Y)``: validation cannot parse it, so the row is quarantined with
file, line and column, and :class:`Problem` records the same for ``sources check``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from proactive_ml.contract import Dataset
from proactive_ml.ingest.mapping import ColumnSpec, DatasetMapping
from proactive_ml.ingest.readers import RawTable

EVENT_KEY = ("customer_id", "ts", "feature")
ATTRIBUTE_COLUMNS = ["customer_id", "name", "kind", "value_num", "value_text"]
MAX_PROBLEMS_PER_COLUMN = 20


@dataclass(frozen=True)
class Problem:
    """One problem of a source file: where (file, line, column) and what."""

    path: str
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.path + (f", line {self.line}" if self.line is not None else "")
        return where + (f", column {self.column!r}" if self.column else "") + f": {self.message}"


@dataclass
class MappedTable:
    """One source file mapped to the contract."""

    path: Path
    dataset: str
    frame: pd.DataFrame  # contract columns as text (None = empty) + _line + _decode_error
    attributes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ATTRIBUTE_COLUMNS))
    labels: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["customer_id", "label"]))
    problems: list[Problem] = field(default_factory=list)
    rows_read: int = 0
    sha256: str = ""  # of the bytes the table was read from


@dataclass
class Cast:
    """A column after its cast: contract text, the mask of values that failed, and why."""

    text: pd.Series
    bad: np.ndarray
    why: str = ""
    number: pd.Series | None = None  # numeric casts: the values as float


def _decimal(text: pd.Series, decimal: str) -> pd.Series:
    """Numbers written with a decimal comma -> with a point (``1.234,5`` -> ``1234.5``)."""
    s = text.astype(object).where(text.notna(), None).str.replace(r"[\s\u00a0\u202f]", "", regex=True)
    if decimal == ",":
        s = s.str.replace(r"\.(?=\d{3}(?:[.,]|$))", "", regex=True).str.replace(",", ".", regex=False)
    return s


def cast_values(text: pd.Series, spec: ColumnSpec, decimal: str, temporal: bool) -> Cast:
    """Cast one source column as ``spec`` declares; values that do not fit are flagged, never guessed."""
    text = text.astype(object).where(text.notna(), None)
    present = np.asarray(text.notna().to_numpy(), dtype=bool)
    t = spec.type
    if t in ("int", "float"):
        norm = _decimal(text, decimal)
        num = pd.to_numeric(norm, errors="coerce").astype("float64")
        bad = present & ~np.isfinite(num.to_numpy())
        if t == "int":
            whole = num.where(np.isfinite(num) & (num == np.round(num)))
            bad |= present & whole.isna().to_numpy()
            out = whole.map(lambda v: None if pd.isna(v) else str(int(v))).astype(object)
            return Cast(out, bad, "not a whole number", num)
        return Cast(norm.where(~bad, None), bad, "not a number", num.where(~bad))
    if t == "bool" and spec.true:
        folded = text.map(lambda v: None if v is None else str(v).casefold())
        is_true = folded.isin({v.casefold() for v in spec.true}).to_numpy()
        is_false = folded.isin({v.casefold() for v in spec.false}).to_numpy()
        out = pd.Series(None, index=text.index, dtype=object)
        out[is_true] = "true"
        out[is_false] = "false"
        lists = f"true {list(spec.true)} / false {list(spec.false)}"
        return Cast(out.astype(object), present & ~is_true & ~is_false, f"in neither list ({lists})")
    if t in ("date", "timestamp") and (spec.format or temporal):
        fmt_in = (
            "ISO8601" if temporal else spec.format
        )  # typed dates/times (Parquet) were written as ISO text
        parsed = pd.to_datetime(text, format=fmt_in, errors="coerce", utc=True).dt.tz_convert(None)
        bad = present & parsed.isna().to_numpy()
        if t == "date":
            iso = np.datetime_as_string(parsed.to_numpy().astype("datetime64[D]"), unit="D")
        elif (parsed.dt.microsecond.fillna(0) != 0).any():
            iso = np.datetime_as_string(parsed.to_numpy().astype("datetime64[us]"), unit="us")
        else:
            iso = np.datetime_as_string(parsed.to_numpy().astype("datetime64[s]"), unit="s")
        out = pd.Series(iso, index=text.index, dtype=object).where(parsed.notna().to_numpy(), None)
        return Cast(out, bad, f"does not match the date format {spec.format}")
    return Cast(text, np.zeros(len(text), dtype=bool))


def _annotate(original: pd.Series, cast: Cast, source: str) -> pd.Series:
    """Failed values keep their text with the reason appended (validation then cannot parse them)."""
    if not cast.bad.any():
        return cast.text
    out = cast.text.copy()
    idx = np.flatnonzero(cast.bad)
    out.iloc[idx] = [f"{v} ({source}: {cast.why})" for v in original.iloc[idx]]
    return out


def _problems(raw: RawTable, original: pd.Series, cast: Cast, source: str, target: str) -> list[Problem]:
    idx = np.flatnonzero(cast.bad)
    lines = raw.frame["_line"].to_numpy()
    out = [
        Problem(str(raw.path), int(lines[i]), source, f"{original.iloc[i]!r} -> {target}: {cast.why}")
        for i in idx[:MAX_PROBLEMS_PER_COLUMN]
    ]
    if len(idx) > MAX_PROBLEMS_PER_COLUMN:
        more = len(idx) - MAX_PROBLEMS_PER_COLUMN
        out.append(Problem(str(raw.path), None, source, f"... and {more} more values that are {cast.why}"))
    return out


def map_table(raw: RawTable, dm: DatasetMapping, ds: Dataset) -> MappedTable:
    """Map one source file to the contract's all-text layout (plus attributes and label, for customers)."""
    src = raw.frame
    n = len(src)
    out: dict[str, pd.Series] = {}
    problems: list[Problem] = []
    for col in ds.columns:
        spec = dm.columns.get(col.name)
        if spec is None:
            out[col.name] = pd.Series([col.default] * n, dtype=object)
        elif spec.constant is not None:
            out[col.name] = pd.Series([spec.constant] * n, dtype=object)
        else:
            source = str(spec.source)
            cast = cast_values(src[source], spec, dm.decimal, source in raw.temporal)
            out[col.name] = _annotate(src[source], cast, source)
            problems += _problems(raw, src[source], cast, source, col.name)
    if dm.event_id:
        out["event_id"] = src[dm.event_id].astype(object)
        empty = np.flatnonzero(src[dm.event_id].isna().to_numpy())
        problems += [
            Problem(
                str(raw.path),
                int(src["_line"].iloc[i]),
                dm.event_id,
                "no event id: the row cannot be deduplicated",
            )
            for i in empty[:MAX_PROBLEMS_PER_COLUMN]
        ]
    frame = pd.DataFrame(out).astype(object)
    frame = frame.where(frame.notna(), None)
    for c in ds.columns:  # an empty value of a column with a default takes the default
        if c.default is not None:
            frame[c.name] = frame[c.name].where(frame[c.name].notna(), c.default)
    frame["_line"] = src["_line"].to_numpy()
    frame["_decode_error"] = src["_decode_error"].to_numpy()
    table = MappedTable(raw.path, ds.name, frame, problems=problems, rows_read=n, sha256=raw.sha256)
    if dm.attributes:
        table.attributes = _attributes(raw, dm, frame["customer_id"], problems)
    if dm.label is not None:
        table.labels = _labels(raw, dm.label, frame["customer_id"], problems)
    if dm.aggregate == "sum":
        table.frame = aggregate_events(frame)
    return table


def _attributes(raw: RawTable, dm: DatasetMapping, ids: pd.Series, problems: list[Problem]) -> pd.DataFrame:
    """Long table of the declared extra attributes (missing and unparseable values are left out)."""
    parts = []
    for name, spec in dm.attributes.items():
        source = str(spec.source)
        text = raw.frame[source]
        if spec.kind == "numeric":
            cast = cast_values(text, spec, dm.decimal, False)
            problems += _problems(raw, text, cast, source, f"attribute {name} (left empty)")
            num = cast.number if cast.number is not None else pd.Series(np.nan, index=text.index)
            part = pd.DataFrame({"customer_id": ids, "value_num": num, "value_text": None})
            part = part.loc[num.notna().to_numpy()]
        else:
            part = pd.DataFrame({"customer_id": ids, "value_num": np.nan, "value_text": text})
            part = part.loc[text.notna().to_numpy()]
        parts.append(part.assign(name=name, kind=spec.kind))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=ATTRIBUTE_COLUMNS)
    frame = frame.loc[frame["customer_id"].notna()]
    return frame[ATTRIBUTE_COLUMNS].reset_index(drop=True)


def _labels(raw: RawTable, spec: ColumnSpec, ids: pd.Series, problems: list[Problem]) -> pd.DataFrame:
    """The snapshot churn flag per customer (values in neither list are left out and reported)."""
    source = str(spec.source)
    cast = cast_values(raw.frame[source], spec, ".", False)
    problems += _problems(raw, raw.frame[source], cast, source, "label (left out)")
    label = cast.text.map({"true": True, "false": False})
    frame = pd.DataFrame({"customer_id": ids, "label": label})
    return frame.loc[frame["customer_id"].notna() & label.notna()].reset_index(drop=True)


def aggregate_events(frame: pd.DataFrame) -> pd.DataFrame:
    """Sum repeated (customer_id, ts, feature) rows: quantity and value add up, the first line is kept.

    Rows with an empty key part or a value that failed its cast are left as they are (validation quarantines
    them); they are placed after the aggregated rows so a bad row never shadows a good one with the same key.
    """
    qty = pd.to_numeric(frame["quantity"], errors="coerce")
    val = pd.to_numeric(frame["value"], errors="coerce")
    ok = frame[list(EVENT_KEY)].notna().all(axis=1) & ~frame["_decode_error"].astype(bool)
    ok &= qty.notna() | frame["quantity"].isna()
    ok &= val.notna() | frame["value"].isna()
    good = frame.loc[ok].assign(_q=qty[ok], _v=val[ok], _order=np.arange(int(ok.sum())))
    if good.duplicated(list(EVENT_KEY)).sum() == 0:
        return frame
    g = good.groupby(list(EVENT_KEY), sort=False, dropna=False)
    others = [
        c for c in frame.columns if c not in (*EVENT_KEY, "quantity", "value", "_line", "_decode_error")
    ]
    merged = g.agg(
        _q=("_q", "sum"),
        _v=("_v", "sum"),
        _vn=("_v", "count"),
        _line=("_line", "min"),
        _order=("_order", "min"),
        **{c: (c, "first") for c in others},  # first non-empty value of the group
    ).reset_index()
    merged = merged.sort_values("_order")
    merged["quantity"] = _number_text(merged["_q"])
    merged["value"] = _number_text(merged["_v"].where(merged["_vn"] > 0))
    merged["_decode_error"] = False
    cols = list(frame.columns)
    return pd.concat([merged[cols], frame.loc[~ok, cols]], ignore_index=True)


def _number_text(values: pd.Series) -> pd.Series:
    """Numbers as text: whole numbers without a decimal point, others in their shortest form; NaN -> None."""
    v = values.astype("float64")
    whole = np.isfinite(v) & (v == np.floor(v))
    out = v.astype(str).astype(object)
    out[whole] = v[whole].astype("int64").astype(str)
    return out.where(v.notna(), None)
