"""The GX edge of the feedback loop: run the ``expectations/email_events.json`` and ``replies.json`` suites.

GX reports the batch-level result (logged in the responses summary); the *row-level* mask that decides what is
quarantined is computed from the same suite rules with pandas, because GX returns at most 200 failing rows
(field notes). The supported rule types are the few the feedback suites use.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from proactive_ml.settings import PROJECT_ROOT

EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
_LOCK = threading.Lock()


@dataclass
class SuiteResult:
    """Outcome of one suite on one frame: GX success, per-rule failures and the row mask of valid rows."""

    suite: str
    success: bool
    valid: pd.Series
    reasons: pd.Series  # '' for valid rows, else the first failing rule
    failures: dict[str, int] = field(default_factory=dict)
    gx_success: bool | None = None


@lru_cache(maxsize=8)
def load_suite(name: str, folder: str | None = None) -> dict[str, Any]:
    """The suite JSON (``{"name", "expectations": [{"type", "kwargs"}]}``)."""
    path = Path(folder) if folder else EXPECTATIONS_DIR
    return json.loads((path / f"{name}.json").read_text())


def row_mask(df: pd.DataFrame, suite: dict[str, Any]) -> tuple[pd.Series, pd.Series, dict[str, int]]:
    """Valid-row mask and first failing rule per row, computed from the suite rules (pure)."""
    valid = pd.Series(True, index=df.index)
    reasons = pd.Series("", index=df.index, dtype=object)
    failures: dict[str, int] = {}
    for exp in suite["expectations"]:
        kind, kw = exp["type"], exp.get("kwargs", {})
        col = kw.get("column")
        if col is not None and col not in df.columns:
            ok = pd.Series(False, index=df.index)
        else:
            s = df[col] if col is not None else None
            ok = _rule(kind, kw, s, df)
        if ok is None:
            continue
        bad = ~ok
        label = f"{kind}({col})" if col else kind
        failures[label] = int(bad.sum())
        newly = bad & valid
        reasons[newly] = label
        valid &= ok
    return valid, reasons, failures


def _rule(kind: str, kw: dict[str, Any], s: pd.Series | None, df: pd.DataFrame) -> pd.Series | None:
    assert s is not None or kind == "expect_table_columns_to_match_set"
    present = s.notna() if s is not None else None
    if kind == "expect_column_values_to_not_be_null":
        return present
    if kind == "expect_column_values_to_be_in_set":
        return ~present | s.isin(kw["value_set"])  # type: ignore[union-attr,operator]
    if kind == "expect_column_values_to_match_regex":
        rx = re.compile(kw["regex"])
        return s.map(lambda v: v is None or (isinstance(v, float) and np.isnan(v)) or bool(rx.search(str(v))))  # type: ignore[union-attr]
    if kind == "expect_column_values_to_be_between":
        lo, hi = kw.get("min_value"), kw.get("max_value")
        vals = s
        if lo is not None and isinstance(lo, str):
            vals, lo, hi = pd.to_datetime(s), pd.Timestamp(lo), (pd.Timestamp(hi) if hi is not None else None)
        ok = pd.Series(True, index=df.index)
        if lo is not None:
            ok &= ~present | (vals >= lo)  # type: ignore[operator]
        if hi is not None:
            ok &= ~present | (vals <= hi)  # type: ignore[operator]
        return ok.fillna(False).astype(bool)
    if kind == "expect_column_value_lengths_to_be_between":
        lengths = s.map(lambda v: len(v) if isinstance(v, str) else 0)  # type: ignore[union-attr]
        ok = pd.Series(True, index=df.index)
        if kw.get("min_value") is not None:
            ok &= ~present | (lengths >= kw["min_value"])  # type: ignore[operator]
        if kw.get("max_value") is not None:
            ok &= ~present | (lengths <= kw["max_value"])  # type: ignore[operator]
        return ok
    return None  # table-level rule: GX only


@lru_cache(maxsize=1)
def _gx_context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    try:
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # progress bars are cosmetic
        pass
    return ctx


def run_gx(df: pd.DataFrame, suite: dict[str, Any]) -> bool:
    """Run the suite with Great Expectations on ``df``; True when every expectation passed."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    with _LOCK:
        ctx = _gx_context()
        name = suite["name"]
        try:
            vd = ctx.validation_definitions.get(f"fb_{name}")
        except Exception:
            ds = ctx.data_sources.add_pandas(f"fb_{name}")
            bd = ds.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
            gsuite = gx.ExpectationSuite(name=name)
            for exp in suite["expectations"]:
                gsuite.add_expectation(ExpectationConfiguration(type=exp["type"], kwargs=exp["kwargs"]).to_domain_obj())
            gsuite = ctx.suites.add(gsuite)
            vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=f"fb_{name}", data=bd, suite=gsuite))
        result = vd.run(batch_parameters={"dataframe": df})
    return bool(result.success)


def check_frame(df: pd.DataFrame, suite_name: str, use_gx: bool = True) -> SuiteResult:
    """Validate ``df`` with the named suite: GX for the batch result, the same rules in pandas for the rows."""
    suite = load_suite(suite_name)
    valid, reasons, failures = row_mask(df, suite)
    gx_ok = run_gx(df, suite) if use_gx and len(df) else None
    return SuiteResult(suite_name, bool(valid.all()), valid, reasons, failures, gx_ok)
