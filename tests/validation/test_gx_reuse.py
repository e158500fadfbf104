"""GX runs reuse one registered suite per dataset, and still validate every batch with its own bounds."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pyarrow as pa

from proactive_ml.contract import DATASETS, FEATURES
from proactive_ml.validation.gx_run import get_context, gx_suite, run_suite
from proactive_ml.validation.rules import parse_chunk
from proactive_ml.validation.suites import load_suite

AS_OF = datetime(2026, 3, 2)


def _usage(n: int) -> pd.DataFrame:
    """The validation frame (typed columns and helper columns) of ``n`` clean usage rows."""
    raw = pd.DataFrame(
        {
            "customer_id": [f"c{i % 7}" for i in range(n)],
            "ts": [f"2026-03-01T00:{i:02d}:00" for i in range(n)],
            "feature": [FEATURES[0]] * n,
            "quantity": ["1"] * n,
            "value": [None] * n,
            "event_id": [None] * n,
            "_line": range(2, n + 2),
            "_decode_error": [False] * n,
        }
    )
    known = {"customer_id": pa.array([f"c{i}" for i in range(7)])}
    return parse_chunk(DATASETS["usage_events"], raw, known).frame


def _run(settings, frame, params, name):  # type: ignore[no-untyped-def]
    suite = load_suite("usage_events")
    return run_suite(settings, suite, frame, {**params}, run_name=name, run_time=AS_OF)


def _volume(outcome):  # type: ignore[no-untyped-def]
    return next(r for r in outcome.results if r.type == "expect_table_row_count_to_be_between")


def test_each_batch_is_held_to_its_own_bounds_with_the_suite_registered_once(settings):
    ctx = get_context(settings)
    ok = _run(settings, _usage(20), {"min_rows": 10, "max_rows": 30}, "first")
    assert ok.success
    updated = ctx.suites.get("usage_events").id
    low = _run(settings, _usage(20), {"min_rows": 50, "max_rows": 90}, "second")
    assert not _volume(low).success
    assert not low.success
    assert ctx.suites.get("usage_events").id == updated  # not registered again
    stored = ctx.validation_results_store.get(
        next(k for k in ctx.validation_results_store.list_keys() if k.run_id.run_name == "second")
    )
    kwargs = next(
        r.expectation_config.kwargs
        for r in stored.results
        if r.expectation_config.type == "expect_table_row_count_to_be_between"
    )
    assert (kwargs["min_value"], kwargs["max_value"]) == (50, 90)  # Data Docs show the concrete bounds


def test_a_suite_changed_by_another_process_is_registered_again(settings):
    ctx = get_context(settings)
    assert _run(settings, _usage(20), {"min_rows": 10, "max_rows": 30}, "first").success
    other = gx_suite({"name": "usage_events", "expectations": []})  # another process replaced it
    ctx.suites.add_or_update(other)
    again = _run(settings, _usage(20), {"min_rows": 10, "max_rows": 30}, "second")
    assert again.success
    assert len(again.results) > 1
