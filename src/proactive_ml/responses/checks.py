"""Validation of the responses flow's parsed rows: the ``email_events`` and ``replies`` suites.

The suites (``expectations/email_events.json``, ``replies.json``) run with the same machinery as the ingest
datasets (:mod:`proactive_ml.validation`).

GX validates the batch (its result lands in the Data Docs site next to the ingest runs); the *row-level* mask that
decides what is quarantined comes from the same suite rules, vectorised (:func:`validation.rules.rule_mask`),
because GX returns at most 200 failing rows (field notes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from proactive_ml.settings import Settings
from proactive_ml.validation.gx_run import run_suite
from proactive_ml.validation.rules import rule_mask
from proactive_ml.validation.suites import Suite, load_suite


@dataclass
class SuiteResult:
    """Outcome of one suite on one frame: GX success, per-rule failures and the row mask of valid rows."""

    suite: str
    success: bool
    valid: pd.Series
    reasons: pd.Series  # '' for valid rows, else the first failing rule
    failures: dict[str, int] = field(default_factory=dict)
    gx_success: bool | None = None


def row_mask(df: pd.DataFrame, suite: Suite) -> tuple[pd.Series, pd.Series, dict[str, int]]:
    """Valid-row mask, first failing rule per row and failures per rule, from the suite's row rules (pure).

    A rule about a column the frame does not have fails every row.
    """
    valid = np.ones(len(df), dtype=bool)
    reasons = np.full(len(df), "", dtype=object)
    failures: dict[str, int] = {}
    for rule in suite.row_rules:
        col = rule.kwargs.get("column")
        bad = (
            np.ones(len(df), dtype=bool)
            if col is not None and col not in df.columns
            else rule_mask(rule, df, {})
        )
        failures[rule.name] = int(bad.sum())
        reasons[bad & valid] = rule.name
        valid &= ~bad
    return pd.Series(valid, index=df.index), pd.Series(reasons, index=df.index, dtype=object), failures


def check_frame(
    df: pd.DataFrame, suite_name: str, settings: Settings, as_of: datetime, use_gx: bool = True
) -> SuiteResult:
    """Validate ``df`` with the named suite: GX for the batch result, the same rules vectorised for the rows."""
    suite = load_suite(suite_name)
    valid, reasons, failures = row_mask(df, suite)
    gx_ok = None
    if use_gx and len(df):
        outcome = run_suite(
            settings, suite, df, {}, run_name=f"responses-{as_of:%Y%m%dT%H%M%S}", run_time=as_of
        )
        gx_ok = outcome.success
    return SuiteResult(suite_name, bool(valid.all()), valid, reasons, failures, gx_ok)
