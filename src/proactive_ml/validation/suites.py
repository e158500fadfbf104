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
``_known_<column>`` for each foreign key (the referenced row exists in the warehouse or the batch). Pure module: no GX import, no I/O except reading JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proactive_ml.contract import Dataset
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
    if isinstance(
        cond, dict
    ):  # GX stores a parsed condition: {"type": "pass_through", "pass_through_filter": ...}
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
        return [r for r in self.rules if r.level == "row"]

    @property
    def batch_rules(self) -> list[Rule]:
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
        from proactive_ml.errors import UserError

        raise UserError(f"no expectation suite for dataset {name!r}: {path} does not exist")
    return parse_suite(json.loads(path.read_text(encoding="utf-8")))


def _exp(type_: str, kwargs: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"type": type_, "kwargs": kwargs, "meta": meta}


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

    ``ranges``: dicts with ``column``, ``min_value``/``max_value`` and optional ``row_condition`` (``col=="v"``).
    ``order``: ``(later, earlier)`` timestamp pairs (later >= earlier when both present).
    ``distribution``: dicts with ``column`` and ``kind`` (``categorical`` or ``mean``), ``min_rows``, thresholds.
    """
    exps: list[dict[str, Any]] = []
    cols = dataset.column_names
    exps.append(
        _exp(
            "expect_table_columns_to_match_set",
            {"column_set": cols, "exact_match": False},
            level="batch",
            gate="schema",
            notes="Missing or renamed columns. Extra columns are refused by ingestion before validation.",
        )
    )
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
    for c in dataset.columns:
        if c.required:
            exps.append(
                _exp("expect_column_values_to_not_be_null", {"column": c.name}, level="row", rule="required")
            )
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
    for col, values in (enums or {}).items():
        exps.append(
            _exp(
                "expect_column_values_to_be_in_set",
                {"column": col, "value_set": list(values)},
                level="row",
                rule="enum",
            )
        )
    for r in ranges or []:
        kw = {k: v for k, v in r.items() if k in ("column", "min_value", "max_value", "row_condition")}
        if "row_condition" in kw:
            kw["condition_parser"] = "pandas"
        exps.append(_exp("expect_column_values_to_be_between", kw, level="row", rule="range"))
    for c in dataset.columns:
        if c.type in ("timestamp", "date"):
            param = "max_timestamp" if c.type == "timestamp" else "max_date"
            exps.append(
                _exp(
                    "expect_column_values_to_be_between",
                    {"column": c.name, "max_value": {"$PARAMETER": param}},
                    level="row",
                    rule="future",
                    tolerance_hours=future_tolerance_hours,
                )
            )
    for col in emails:
        exps.append(
            _exp(
                "expect_column_values_to_match_regex",
                {"column": col, "regex": EMAIL_REGEX},
                level="row",
                rule="email",
            )
        )
    for later, earlier in order or []:
        exps.append(
            _exp(
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
        )
    key = list(dataset.key)
    if len(key) == 1:
        exps.append(
            _exp(
                "expect_column_values_to_be_unique",
                {"column": key[0]},
                level="row",
                rule="unique",
                notes="GX flags every member of a duplicate group; quarantine keeps the first occurrence.",
            )
        )
    else:
        exps.append(
            _exp(
                "expect_compound_columns_to_be_unique",
                {"column_list": key},
                level="row",
                rule="unique",
                notes="GX flags every member of a duplicate group; quarantine keeps the first occurrence.",
            )
        )
    for col, ref in dataset.foreign_keys.items():
        exps.append(
            _exp(
                "expect_column_values_to_be_in_set",
                {"column": f"_known_{col}", "value_set": [True]},
                level="row",
                rule="foreign_key",
                column=col,
                references=ref,
            )
        )
    exps.append(
        _exp(
            "expect_table_row_count_to_be_between",
            {"min_value": {"$PARAMETER": "min_rows"}, "max_value": {"$PARAMETER": "max_rows"}},
            level="batch",
            gate="volume",
            trailing_batches=7,
            min_ratio=0.2,
            max_ratio=5.0,
            min_history=3,
            min_median_rows=50,
            slack_rows=100,
            notes="Row count against the median of the last accepted batches of this dataset.",
        )
    )
    if freshness_days is not None:
        exps.append(
            _exp(
                "expect_column_max_to_be_between",
                {"column": dataset.time_column, "min_value": {"$PARAMETER": "freshness_min"}},
                level="batch",
                gate="freshness",
                max_age_days=freshness_days,
            )
        )
    for d in distribution or []:
        col = d["column"]
        if d["kind"] == "categorical":
            exps.append(
                _exp(
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
            )
        else:
            mean_kw: dict[str, Any] = {
                "column": col,
                "min_value": {"$PARAMETER": f"{col}_mean_min"},
                "max_value": {"$PARAMETER": f"{col}_mean_max"},
            }
            if "row_condition" in d:
                mean_kw.update(row_condition=d["row_condition"], condition_parser="pandas")
            exps.append(
                _exp(
                    "expect_column_mean_to_be_between",
                    mean_kw,
                    level="batch",
                    gate="distribution",
                    kind="mean",
                    max_abs_shift=d.get("max_abs_shift", 1.0),
                    min_rows=d.get("min_rows", 200),
                    notes="Mean against the last accepted batch.",
                )
            )
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
