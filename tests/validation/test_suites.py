"""The reviewed suites in expectations/ are real GX 1.x suites and cover the contract; Data Docs are built."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pyarrow as pa
import pytest

from proactive_ml import contract
from proactive_ml.sim.samples import clean_customers, clean_feedback, clean_tickets, clean_usage_events
from proactive_ml.validation import validate_batch
from proactive_ml.validation.gates import row_params
from proactive_ml.validation.gx_run import gx_suite
from proactive_ml.validation.rules import parse_chunk, rule_mask
from proactive_ml.validation.suites import EXPECTATIONS_DIR, load_suite, suite_path

DATASETS = list(contract.DATASETS)


@pytest.mark.parametrize("name", DATASETS)
def test_suite_json_loads_as_a_gx_suite_without_dropping_expectations(name):
    data = json.loads(suite_path(name).read_text())
    suite = gx_suite(data)
    assert suite.name == name
    assert len(suite.expectations) == len(data["expectations"])
    types = {
        e.expectation_type if hasattr(e, "expectation_type") else e.expectation_config.type
        for e in suite.expectations
    }
    assert "expect_table_row_count_to_be_between" in types


@pytest.mark.parametrize("name", DATASETS)
def test_suite_covers_the_contract(name):
    ds = contract.DATASETS[name]
    suite = load_suite(name)
    required = {r.kwargs["column"] for r in suite.row_rules if r.meta.get("rule") == "required"}
    assert required == set(ds.required_columns)
    schema = suite.gate("schema")[0]
    assert schema.kwargs["column_set"] == ds.column_names
    typed = {r.kwargs["column"] for r in suite.gate("type_drift")}
    assert typed == {c.name for c in ds.columns if c.type in ("int", "float", "bool", "timestamp")}
    rules = {r.meta.get("rule") for r in suite.row_rules}
    assert {"required", "type", "encoding", "unique", "future"} <= rules
    if ds.foreign_keys:
        assert "foreign_key" in rules
    assert suite.gate("volume")
    assert suite.gate("distribution")


def test_suite_bounds_come_from_the_contract_enums():
    fb = load_suite("feedback")
    sets = {r.kwargs["column"]: r.kwargs["value_set"] for r in fb.row_rules if r.meta.get("rule") == "enum"}
    assert sets == {"survey_type": list(contract.SURVEY_TYPES)}
    tk = load_suite("tickets")
    sets = {r.kwargs["column"]: r.kwargs["value_set"] for r in tk.row_rules if r.meta.get("rule") == "enum"}
    assert sets["priority"] == list(contract.TICKET_PRIORITIES)
    assert sets["status"] == list(contract.TICKET_STATUSES)
    ranges = [
        (r.kwargs.get("min_value"), r.kwargs.get("max_value"))
        for r in fb.row_rules
        if r.meta.get("rule") == "range"
    ]
    assert ranges == [(0, 10), (1, 5)]


def test_every_row_rule_has_a_vectorised_mask():
    day = datetime(2026, 3, 1)
    frames = {
        "customers": clean_customers(20, day),
        "usage_events": clean_usage_events(20, ["c1"], day),
        "feedback": clean_feedback(20, ["c1"], day),
        "tickets": clean_tickets(20, ["c1"], day),
    }
    for name, raw in frames.items():
        suite = load_suite(name)
        frame = parse_chunk(contract.DATASETS[name], raw, {"customer_id": pa.array(["c1"])}).frame
        for rule in suite.row_rules:
            if rule.meta.get("rule") == "unique":
                continue
            m = rule_mask(rule, frame, row_params(suite, day))
            assert len(m) == len(frame), (name, rule.name)
            assert not m.any(), (name, rule.name)
        assert isinstance(frame, pd.DataFrame)


def test_data_docs_index_exists_after_validation(duck, settings):
    raw = clean_tickets(50, ["c1", "c2"], datetime(2026, 3, 1))
    res = validate_batch(
        duck,
        "tickets",
        raw,
        "landing/tickets/2026-03-01.csv",
        datetime(2026, 3, 1),
        settings,
        extra_known={"customer_id": ["c1", "c2"]},
    )
    index = settings.data_docs_dir / "index.html"
    assert res.docs_index == index
    assert index.exists()
    assert res.docs_path.exists()
    assert res.docs_path.is_relative_to(settings.data_docs_dir)
    html = res.docs_path.read_text()
    assert "expect_column_values_to_be_in_set" in html or "values must belong to this set" in html
    assert "tickets" in index.read_text()
    runs = duck.query("SELECT dataset, success, docs_path FROM validation_runs")
    assert runs["docs_path"].tolist() == [str(res.docs_path)]
    assert EXPECTATIONS_DIR.is_dir()
