"""Batch-level gates fail closed with messages naming the expectation, the observed value and the Data Docs
page; a clean synthetic 90-day history never trips them."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from proactive_ml import contract
from proactive_ml.settings import Settings
from proactive_ml.sim.samples import (
    clean_customers,
    clean_feedback,
    clean_tickets,
    clean_usage_events,
    customer_ids,
)
from proactive_ml.validation import BatchValidator, format_gate_failures, store, validate_batch
from proactive_ml.validation.gates import evaluate_gates
from proactive_ml.validation.suites import load_suite

DAY = datetime(2026, 3, 1)
CUSTOMERS = customer_ids(500)


@pytest.fixture(scope="module")
def gx_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One data folder (one cached GX context) for the module: keeps GX cheap."""
    return Settings(data_dir=tmp_path_factory.mktemp("gates") / "data", _env_file=None)  # type: ignore[call-arg]


def batch_stats(dataset: str, raw: pd.DataFrame, as_of: datetime) -> dict:
    ds = contract.DATASETS[dataset]
    v = BatchValidator(
        ds,
        load_suite(dataset),
        source_file="hist.csv",
        as_of=as_of,
        known={"customer_id": __import__("pyarrow").array(CUSTOMERS)},
    )
    v.process(raw)
    return v.final_stats()


def seed_history(wh, dataset: str, frames: list[pd.DataFrame], start: datetime) -> None:
    for i, raw in enumerate(frames):
        as_of = start + timedelta(days=i)
        st = batch_stats(dataset, raw, as_of)
        store.record_run(
            wh,
            dataset=dataset,
            source_file=f"h{i}.csv",
            kind="ingest",
            as_of=as_of,
            rows=st["rows"],
            valid=st["valid"],
            quarantined=st["quarantined"],
            success=True,
            gate_failures=[],
            stats=st,
            docs_path="",
        )


def assert_message(res, expectation: str, observed: str) -> None:
    assert not res.success
    msg = format_gate_failures(res)
    assert expectation in msg, msg
    assert f"observed {observed}" in msg, msg
    assert res.docs_path is not None
    assert str(res.docs_path) in msg
    assert res.docs_path.exists()


def test_volume_anomaly_fails_closed(wh, gx_settings):
    hist = [clean_usage_events(1000, CUSTOMERS, DAY + timedelta(days=i), seed=i) for i in range(7)]
    seed_history(wh, "usage_events", hist, DAY)
    as_of = DAY + timedelta(days=7)
    raw = clean_usage_events(100, CUSTOMERS, as_of, seed=99)
    res = validate_batch(
        wh,
        "usage_events",
        raw,
        "landing/usage_events/small.csv",
        as_of,
        gx_settings,
        extra_known={"customer_id": CUSTOMERS},
    )
    assert_message(res, "expect_table_row_count_to_be_between", "100")
    assert "between 200 and 5100 rows" in format_gate_failures(res)
    assert [g.expectation for g in res.gate_failures] == ["expect_table_row_count_to_be_between"]


def test_volume_gate_waits_for_history(duck, gx_settings):
    seed_history(duck, "usage_events", [clean_usage_events(1000, CUSTOMERS, DAY, seed=1)], DAY)
    raw = clean_usage_events(100, CUSTOMERS, DAY + timedelta(days=1))
    res = validate_batch(
        duck,
        "usage_events",
        raw,
        "u.csv",
        DAY + timedelta(days=1),
        gx_settings,
        extra_known={"customer_id": CUSTOMERS},
    )
    assert res.success
    assert "expect_table_row_count_to_be_between" in res.skipped_gates


def test_stale_batch_fails_freshness(duck, gx_settings):
    old = clean_usage_events(500, CUSTOMERS, DAY - timedelta(days=10))
    res = validate_batch(
        duck, "usage_events", old, "u.csv", DAY, gx_settings, extra_known={"customer_id": CUSTOMERS}
    )
    assert_message(res, "expect_column_max_to_be_between(ts)", "2026-02-18T23:")


def test_backfill_of_old_daily_files_is_judged_by_the_file_date(duck, gx_settings):
    old = clean_usage_events(300, CUSTOMERS, DAY - timedelta(days=10))  # events of 2026-02-18
    res = validate_batch(
        duck,
        "usage_events",
        old,
        "landing/usage_events/2026-02-18.csv",
        DAY,
        gx_settings,
        extra_known={"customer_id": CUSTOMERS},
    )
    assert res.success, format_gate_failures(res)
    res = validate_batch(
        duck,
        "usage_events",
        old,
        "landing/usage_events/2026-03-01.csv",
        DAY,
        gx_settings,
        extra_known={"customer_id": CUSTOMERS},
    )
    assert [g.expectation for g in res.gate_failures] == ["expect_column_max_to_be_between(ts)"]


def test_plan_mix_shift_fails_distribution_gate(duck, gx_settings):
    seed_history(duck, "customers", [clean_customers(1000, DAY, seed=1)], DAY - timedelta(days=1))
    shifted = clean_customers(1000, DAY, seed=2, offset=5000, plan_weights=(0.0, 0.0, 0.05, 0.95))
    res = validate_batch(duck, "customers", shifted, "c.csv", DAY, gx_settings)
    assert_message(res, "expect_column_kl_divergence_to_be_less_than(plan)", "")
    g = res.gate_failures[0]
    assert g.observed > 0.1
    assert g.threshold == "KL divergence <= 0.1"


def test_score_mean_shift_fails_distribution_gate(duck, gx_settings):
    seed_history(
        duck,
        "feedback",
        [clean_feedback(1000, CUSTOMERS, DAY, seed=1, nps_mean=8.0)],
        DAY - timedelta(days=1),
    )
    low = clean_feedback(1000, CUSTOMERS, DAY, seed=2, nps_mean=3.0, offset=9000)
    res = validate_batch(
        duck, "feedback", low, "f.csv", DAY, gx_settings, extra_known={"customer_id": CUSTOMERS}
    )
    assert_message(res, 'expect_column_mean_to_be_between(score where survey_type=="NPS")', "2.8")


def test_renamed_column_fails_schema_gate(duck, gx_settings):
    raw = clean_tickets(200, CUSTOMERS, DAY).rename(columns={"priority": "prio"})
    res = validate_batch(
        duck, "tickets", raw, "t.csv", DAY, gx_settings, extra_known={"customer_id": CUSTOMERS}
    )
    msg = format_gate_failures(res)
    assert "expect_table_columns_to_match_set" in msg
    assert "'missing': ['priority']" in msg
    assert "'prio'" in msg


def test_changed_type_fails_type_drift_gate(duck, gx_settings):
    raw = clean_usage_events(300, CUSTOMERS, DAY)
    raw["quantity"] = raw["quantity"].map(lambda q: f"{q} units")
    res = validate_batch(
        duck, "usage_events", raw, "u.csv", DAY, gx_settings, extra_known={"customer_id": CUSTOMERS}
    )
    assert_message(res, "expect_column_values_to_be_of_type(quantity)", "100.0% of 300 values do not parse")


def test_empty_batch_is_valid_and_counted(duck, gx_settings):
    raw = clean_feedback(5, CUSTOMERS, DAY).iloc[0:0]
    res = validate_batch(duck, "feedback", raw, "f.csv", DAY, gx_settings)
    assert res.success
    assert len(res.valid) == 0
    assert len(res.quarantined) == 0
    assert list(res.valid.columns) == contract.FEEDBACK.column_names


def test_clean_synthetic_40_days_never_trip_a_gate():
    """40 days of clean, drifting daily batches per dataset (volume trend, weekly cycle, slowly moving mix and
    scores, small daily customer change sets): no gate fires. Pure: stats + gates, no GX. (90 days of the real
    simulated world: tests/test_validation_world.py, marked slow.)"""
    rng = np.random.default_rng(7)
    history: dict[str, list[dict]] = {d: [] for d in contract.DATASETS}
    suites = {d: load_suite(d) for d in contract.DATASETS}
    start = datetime(2026, 1, 1)
    for day in range(40):
        as_of = start + timedelta(days=day + 1)
        weekly = 0.6 if (start + timedelta(days=day)).weekday() >= 5 else 1.0
        n_usage = int(1800 * weekly * (1 - day / 400) * rng.uniform(0.85, 1.15))
        frames = {
            "customers": clean_customers(
                2000 if day == 0 else int(rng.integers(0, 30)), as_of, seed=day, offset=day * 100_000
            ),
            "usage_events": clean_usage_events(n_usage, CUSTOMERS, as_of, seed=day),
            "feedback": clean_feedback(
                int(rng.integers(5, 60)),
                CUSTOMERS,
                as_of,
                seed=day,
                nps_mean=7.5 - day / 40,
                offset=day * 1000,
            ),
            "tickets": clean_tickets(
                int(rng.integers(10, 80)), CUSTOMERS, as_of, seed=day, offset=day * 1000
            ),
        }
        for name, raw in frames.items():
            st = batch_stats(name, raw, as_of)
            failures, _, _ = evaluate_gates(suites[name], st, history[name][::-1][:7], as_of, 0.02)
            assert not failures, (day, name, failures)
            history[name].append(st)
