"""The reviewed GX suites in ``expectations/``: loading them, reading their rules, drafting new ones.

A suite is plain GX 1.x ``ExpectationSuite`` JSON (``gx.ExpectationSuite(**json)`` loads it). Each expectation
carries a ``meta`` block that says how the project uses it:

- ``{"level": "row", "rule": ...}`` — a row-level rule. GX evaluates it for Data Docs; the quarantine mask is
  computed from the *same* kwargs (``value_set``, ``min_value``, ``regex`` ...) by :mod:`.rules`, so GX and the
  masks never disagree. ``rule`` is one of ``required``, ``type``, ``encoding``, ``enum``, ``range``, ``future``,
  ``email``, ``order``, ``unique``, ``foreign_key``.
- ``{"level": "batch", "gate": ...}`` — a fail-closed batch gate (``schema``, ``type_drift``, ``volume``,
  ``freshness``, ``distribution``) with its thresholds in ``meta``. Values that depend on history or on the
  batch's ``as_of`` are written as GX suite parameters (``{"$PARAMETER": "name"}``) and filled in at run time.

GX validates the *validation frame*: the typed contract columns plus derived columns ``_decode_error`` (the row
had invalid UTF-8), ``_unparseable`` (names of columns whose text did not parse as the contract type) and
``_known_<column>`` for each foreign key (the referenced row exists in the warehouse or the batch). Pure module: no
GX import, no I/O except reading JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proactive_ml.contract import Dataset
from proactive_ml.errors import UserError
from proactive_ml.settings import PROJECT_ROOT

EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
GX_VERSION = "1.24.1"
EMAIL_REGEX = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
HELPER_COLUMNS = ("_decode_error", "_unparseable")  # plus one ``_known_<column>`` per foreign key
# pandas dtype names of the typed frame, as GX's expect_column_values_to_be_of_type reads them
# (GX reports nullable Int64 as int64 and datetime64[us] as datetime64)
DTYPE_NAMES = {"int": "int64", "float": "float64", "bool": "bool", "timestamp": "datetime64"}


@dataclass(frozen=True)
class Rule:
    """One expectation of a suite, as the project uses it."""

    type: str
    kwargs: dict[str, Any]
    meta: dict[str, Any]

    @property
    def level(self) -> str:
        """``row`` (a quarantine rule) or ``batch`` (a fail-closed gate)."""
        return str(self.meta.get("level", "row"))

    @property
    def column(self) -> str | None:
        """The column the rule is about (first of a pair/compound), or None for table rules."""
        kw = self.kwargs
        if "column" in kw:
            return str(kw["column"])
        if "column_A" in kw:
            return f"{kw['column_A']},{kw['column_B']}"
        if "column_list" in kw:
            return ",".join(kw["column_list"])
        return None

    @property
    def name(self) -> str:
        """A stable readable id: ``type(column)`` (plus ``where <row_condition>``)."""
        return rule_name(self.type, self.kwargs)


def rule_name(type_: str, kwargs: dict[str, Any]) -> str:
    """The readable id of an expectation: ``type(column)`` or ``type(column where cond)``."""
    if "column" in kwargs:
        col = str(kwargs["column"])
    elif "column_A" in kwargs:
        col = f"{kwargs['column_A']},{kwargs['column_B']}"
    elif "column_list" in kwargs:
        col = ",".join(kwargs["column_list"])
    else:
        return type_
    cond = kwargs.get("row_condition")
    # GX stores a parsed condition: {"type": "pass_through", "pass_through_filter": ...}
    if isinstance(cond, dict):
        cond = cond.get("pass_through_filter") or cond.get("filter") or str(cond)
    return f"{type_}({col} where {cond})" if cond else f"{type_}({col})"


@dataclass(frozen=True)
class Suite:
    """A loaded suite: its raw JSON and its rules split by level."""

    name: str
    data: dict[str, Any]
    rules: tuple[Rule, ...] = field(default_factory=tuple)

    @property
    def row_rules(self) -> list[Rule]:
        """The row-level rules, in suite order."""
        return [r for r in self.rules if r.level == "row"]

    @property
    def batch_rules(self) -> list[Rule]:
        """The batch-level gates, in suite order."""
        return [r for r in self.rules if r.level == "batch"]

    def gate(self, gate: str) -> list[Rule]:
        """Batch rules of one gate kind."""
        return [r for r in self.batch_rules if r.meta.get("gate") == gate]


def suite_path(name: str, suites_dir: Path | None = None) -> Path:
    """Where the reviewed JSON of a dataset's suite lives."""
    return (suites_dir or EXPECTATIONS_DIR) / f"{name}.json"


def parse_suite(data: dict[str, Any]) -> Suite:
    """Turn suite JSON into a :class:`Suite` (no GX involved)."""
    rules = tuple(
        Rule(e["type"], dict(e.get("kwargs", {})), dict(e.get("meta", {}))) for e in data["expectations"]
    )
    return Suite(name=data["name"], data=data, rules=rules)


def load_suite(name: str, suites_dir: Path | None = None) -> Suite:
    """Read ``expectations/<name>.json``."""
    path = suite_path(name, suites_dir)
    if not path.exists():
        raise UserError(f"no expectation suite for dataset {name!r}: {path} does not exist")
    return parse_suite(json.loads(path.read_text(encoding="utf-8")))


def _exp(type_: str, kwargs: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"type": type_, "kwargs": kwargs, "meta": meta}


_UNIQUE_NOTES = "GX flags every member of a duplicate group; quarantine keeps the first occurrence."
# thresholds of the volume gate: row count against the trailing median of accepted batches
_VOLUME_META: dict[str, Any] = {
    "trailing_batches": 7,
    "min_ratio": 0.2,
    "max_ratio": 5.0,
    "min_history": 3,
    "min_median_rows": 50,
    "slack_rows": 100,
    "notes": "Row count against the median of the last accepted batches of this dataset.",
}


def _schema_gates(dataset: Dataset) -> list[dict[str, Any]]:
    """The schema gate and one type-drift gate per typed column."""
    exps = [
        _exp(
            "expect_table_columns_to_match_set",
            {"column_set": dataset.column_names, "exact_match": False},
            level="batch",
            gate="schema",
            notes="Missing or renamed columns. Extra columns are refused by ingestion before validation.",
        )
    ]
    for c in dataset.columns:
        if c.type in DTYPE_NAMES:
            exps.append(
                _exp(
                    "expect_column_values_to_be_of_type",
                    {"column": c.name, "type_": DTYPE_NAMES[c.type]},
                    level="batch",
                    gate="type_drift",
                    contract_type=c.type,
                    max_unparseable_share=0.5,
                    min_values=20,
                    notes="Fails closed when most values of the column stop parsing as the contract type.",
                )
            )
    return exps


def _contract_row_rules(dataset: Dataset) -> list[dict[str, Any]]:
    """Row rules every dataset has: required columns, parseable types, valid UTF-8."""
    exps = [
        _exp("expect_column_values_to_not_be_null", {"column": c.name}, level="row", rule="required")
        for c in dataset.columns
        if c.required
    ]
    exps.append(
        _exp(
            "expect_column_values_to_be_null",
            {"column": "_unparseable"},
            level="row",
            rule="type",
            contract_types={c.name: c.type for c in dataset.columns if c.type != "string"},
        )
    )
    exps.append(
        _exp(
            "expect_column_values_to_be_in_set",
            {"column": "_decode_error", "value_set": [False]},
            level="row",
            rule="encoding",
        )
    )
    return exps


def _enum_rules(enums: dict[str, list[str]]) -> list[dict[str, Any]]:
    """One allowed-values rule per enum column."""
    return [
        _exp(
            "expect_column_values_to_be_in_set",
            {"column": col, "value_set": list(values)},
            level="row",
            rule="enum",
        )
        for col, values in enums.items()
    ]


def _range_rule(r: dict[str, Any]) -> dict[str, Any]:
    """A value range rule (optionally only where ``row_condition`` holds)."""
    kw = {k: v for k, v in r.items() if k in ("column", "min_value", "max_value", "row_condition")}
    if "row_condition" in kw:
        kw["condition_parser"] = "pandas"
    return _exp("expect_column_values_to_be_between", kw, level="row", rule="range")


def _future_rules(dataset: Dataset, tolerance_hours: float) -> list[dict[str, Any]]:
    """No timestamp or date later than the batch's ``as_of`` plus a tolerance."""
    return [
        _exp(
            "expect_column_values_to_be_between",
            {
                "column": c.name,
                "max_value": {"$PARAMETER": "max_timestamp" if c.type == "timestamp" else "max_date"},
            },
            level="row",
            rule="future",
            tolerance_hours=tolerance_hours,
        )
        for c in dataset.columns
        if c.type in ("timestamp", "date")
    ]


def _email_rule(col: str) -> dict[str, Any]:
    """A well-formed email address."""
    return _exp(
        "expect_column_values_to_match_regex",
        {"column": col, "regex": EMAIL_REGEX},
        level="row",
        rule="email",
    )


def _order_rule(later: str, earlier: str) -> dict[str, Any]:
    """``later >= earlier`` when both are present."""
    return _exp(
        "expect_column_pair_values_a_to_be_greater_than_b",
        {
            "column_A": later,
            "column_B": earlier,
            "or_equal": True,
            "ignore_row_if": "either_value_is_missing",
        },
        level="row",
        rule="order",
    )


def _unique_rule(key: list[str]) -> dict[str, Any]:
    """The dataset's key is unique (one column or compound)."""
    if len(key) == 1:
        return _exp(
            "expect_column_values_to_be_unique",
            {"column": key[0]},
            level="row",
            rule="unique",
            notes=_UNIQUE_NOTES,
        )
    return _exp(
        "expect_compound_columns_to_be_unique",
        {"column_list": key},
        level="row",
        rule="unique",
        notes=_UNIQUE_NOTES,
    )


def _foreign_key_rules(dataset: Dataset) -> list[dict[str, Any]]:
    """Each foreign key refers to a known row (the derived ``_known_<column>`` column)."""
    return [
        _exp(
            "expect_column_values_to_be_in_set",
            {"column": f"_known_{col}", "value_set": [True]},
            level="row",
            rule="foreign_key",
            column=col,
            references=ref,
        )
        for col, ref in dataset.foreign_keys.items()
    ]


def _volume_gate() -> dict[str, Any]:
    """Row count against the trailing median of accepted batches."""
    return _exp(
        "expect_table_row_count_to_be_between",
        {"min_value": {"$PARAMETER": "min_rows"}, "max_value": {"$PARAMETER": "max_rows"}},
        level="batch",
        gate="volume",
        **_VOLUME_META,
    )


def _freshness_gates(dataset: Dataset, freshness_days: float | None) -> list[dict[str, Any]]:
    """The newest time value is at most ``freshness_days`` old (no gate when None)."""
    if freshness_days is None:
        return []
    return [
        _exp(
            "expect_column_max_to_be_between",
            {"column": dataset.time_column, "min_value": {"$PARAMETER": "freshness_min"}},
            level="batch",
            gate="freshness",
            max_age_days=freshness_days,
        )
    ]


def _distribution_gate(d: dict[str, Any]) -> dict[str, Any]:
    """A categorical mix (KL divergence) or mean gate against the last accepted batch."""
    col = d["column"]
    if d["kind"] == "categorical":
        return _exp(
            "expect_column_kl_divergence_to_be_less_than",
            {
                "column": col,
                "partition_object": {"$PARAMETER": f"{col}_partition"},
                "threshold": d.get("threshold", 0.1),
            },
            level="batch",
            gate="distribution",
            kind="categorical",
            min_rows=d.get("min_rows", 500),
            notes="Category mix against the last accepted batch (Laplace-smoothed).",
        )
    mean_kw: dict[str, Any] = {
        "column": col,
        "min_value": {"$PARAMETER": f"{col}_mean_min"},
        "max_value": {"$PARAMETER": f"{col}_mean_max"},
    }
    if "row_condition" in d:
        mean_kw.update(row_condition=d["row_condition"], condition_parser="pandas")
    return _exp(
        "expect_column_mean_to_be_between",
        mean_kw,
        level="batch",
        gate="distribution",
        kind="mean",
        max_abs_shift=d.get("max_abs_shift", 1.0),
        min_rows=d.get("min_rows", 200),
        notes="Mean against the last accepted batch.",
    )


def draft_suite(
    dataset: Dataset,
    *,
    enums: dict[str, list[str]] | None = None,
    ranges: list[dict[str, Any]] | None = None,
    emails: tuple[str, ...] = (),
    order: list[tuple[str, str]] | None = None,
    freshness_days: float | None = None,
    distribution: list[dict[str, Any]] | None = None,
    future_tolerance_hours: float = 24.0,
) -> dict[str, Any]:
    """Draft GX suite JSON for a dataset from its contract plus extra rules; review it, then commit it.

    Args:
        dataset: The contract dataset the suite is for.
        enums: Allowed values per column.
        ranges: Dicts with ``column``, ``min_value``/``max_value`` and optional ``row_condition``
            (``col=="v"``).
        emails: Columns that hold email addresses.
        order: ``(later, earlier)`` timestamp pairs (later >= earlier when both present).
        freshness_days: Maximum age of the newest time value (no freshness gate when None).
        distribution: Dicts with ``column`` and ``kind`` (``categorical`` or ``mean``), ``min_rows``,
            thresholds.
        future_tolerance_hours: How far past ``as_of`` a timestamp may lie.

    Returns:
        The suite JSON, expectations in a fixed order (gates of the schema first, distribution last).
    """
    key = list(dataset.key)
    exps = [
        *_schema_gates(dataset),
        *_contract_row_rules(dataset),
        *_enum_rules(enums or {}),
        *(_range_rule(r) for r in ranges or []),
        *_future_rules(dataset, future_tolerance_hours),
        *(_email_rule(col) for col in emails),
        *(_order_rule(later, earlier) for later, earlier in order or []),
        _unique_rule(key),
        *_foreign_key_rules(dataset),
        _volume_gate(),
        *_freshness_gates(dataset, freshness_days),
        *(_distribution_gate(d) for d in distribution or []),
    ]
    return {
        "name": dataset.name,
        "expectations": exps,
        "meta": {
            "great_expectations_version": GX_VERSION,
            "dataset": dataset.name,
            "key": key,
            "time_column": dataset.time_column,
            "validation_frame": "typed contract columns + "
            + ", ".join([*HELPER_COLUMNS, *(f"_known_{c}" for c in dataset.foreign_keys)]),
        },
        "notes": f"Reviewed suite for {dataset.name}: {dataset.description}",
    }


def write_suite(data: dict[str, Any], path: Path) -> Path:
    """Write suite JSON (sorted, indented) for review and commit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path
