"""Bad-input battery: 5% defects of each kind -> every bad row quarantined with its expectation and reason,
every good row kept, valid + quarantined == input; the quarantine-share gate stops the batch."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from proactive_ml import contract
from proactive_ml.settings import Settings
from proactive_ml.sim.samples import (
    EXPECTED,
    clean_customers,
    clean_feedback,
    clean_tickets,
    clean_usage_events,
    customer_ids,
    inject_defects,
)
from proactive_ml.validation import format_gate_failures, validate_batch, write_quarantine

DAY = datetime(2026, 3, 1)
AS_OF = datetime(2026, 3, 1, 6, 0)
CUSTOMERS = customer_ids(300)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One data folder per module (one cached GX context, templates compiled once): keeps GX cheap."""
    return Settings(data_dir=tmp_path_factory.mktemp("validation") / "data", _env_file=None)  # type: ignore[call-arg]


def clean(dataset: str, n: int = 1000, seed: int = 0) -> pd.DataFrame:
    if dataset == "customers":
        return clean_customers(n, DAY, seed=seed)
    if dataset == "usage_events":
        return clean_usage_events(n, CUSTOMERS, DAY, seed=seed)
    if dataset == "feedback":
        return clean_feedback(n, CUSTOMERS, DAY, seed=seed)
    return clean_tickets(n, CUSTOMERS, DAY, seed=seed)


def lenient(settings: Settings) -> Settings:
    return Settings(data_dir=settings.data_dir, quarantine_max_share=1.0, _env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize("dataset", ["feedback"])
def test_clean_batch_passes_every_rule(duck, settings, dataset):
    """(Every dataset's clean frames also pass inside the battery and the 90-day tests.)"""
    raw = clean(dataset)
    res = validate_batch(
        duck,
        dataset,
        raw,
        f"landing/{dataset}/clean.csv",
        AS_OF,
        settings,
        extra_known={"customer_id": CUSTOMERS},
    )
    assert res.success, format_gate_failures(res)
    assert len(res.quarantined) == 0
    assert len(res.valid) == len(raw)
    assert list(res.valid.columns) == contract.DATASETS[dataset].column_names
    assert res.docs_path is not None
    assert res.docs_path.exists()


@pytest.mark.parametrize("dataset", list(contract.DATASETS))
def test_battery_quarantines_every_bad_row_and_keeps_every_good_row(duck, settings, dataset):
    raw, bad = inject_defects(dataset, clean(dataset), 0.05, DAY)
    kinds = {k for k in bad.values()}
    assert len(kinds) >= 6
    assert all(sum(1 for v in bad.values() if v == k) >= 40 for k in kinds)
    res = validate_batch(
        duck,
        dataset,
        raw,
        f"landing/{dataset}/bad.csv",
        AS_OF,
        lenient(settings),
        extra_known={"customer_id": CUSTOMERS},
    )
    q = res.quarantined
    # input rows = valid + quarantined lines, exactly; one quarantine row per line
    assert len(res.valid) + q["source_line"].nunique() == len(raw)
    assert q["source_line"].is_unique
    assert set(q["source_line"]) == set(bad)
    by_line = q.set_index("source_line")
    for line, kind in bad.items():
        row = by_line.loc[line]
        assert EXPECTED[kind] in row["expectation"], (kind, row["expectation"])
        assert row["reason"]
        assert row["dataset"] == dataset
        assert row["source_file"].endswith("bad.csv")
        assert row["raw_row"].startswith("{")
    # every good row is loaded, typed
    good_lines = [ln for ln in raw["_line"] if ln not in bad]
    assert len(res.valid) == len(good_lines)
    key = contract.DATASETS[dataset].key[0]
    assert set(res.valid[key]) <= set(raw[key].dropna())
    # GX agreed with the masks (a disagreement would be a gate failure) and GX saw every row
    assert res.gx_rows == len(raw)
    assert res.success, format_gate_failures(res)


def test_battery_fails_closed_on_quarantine_share_with_a_useful_message(wh, settings):
    raw, bad = inject_defects("feedback", clean("feedback"), 0.05, DAY)
    res = validate_batch(
        wh,
        "feedback",
        raw,
        "landing/feedback/bad.csv",
        AS_OF,
        settings,
        extra_known={"customer_id": CUSTOMERS},
    )
    assert not res.success
    msg = format_gate_failures(res)
    share = len(bad) / len(raw)
    assert "quarantine_share" in msg
    assert f"{share:.2%}" in msg
    assert "<= 2.00%" in msg
    assert "expect_column_values_to_be_null(_unparseable): 100 rows" in msg
    assert " more" in msg
    assert str(res.docs_path) in msg
    assert res.docs_path.exists()
    # validation itself wrote no quarantine and no raw rows: ingestion writes nothing on a gate failure
    assert wh.row_count("feedback") == 0
    assert wh.row_count("quarantine") == 0
    runs = wh.query("SELECT success, rows, quarantined FROM validation_runs")
    assert runs["success"].tolist() == [False]
    assert int(runs["quarantined"][0]) == len(bad)


def test_quarantine_rows_round_trip_through_the_table(wh, settings):
    raw, bad = inject_defects("tickets", clean("tickets", 600), 0.05, DAY)
    res = validate_batch(
        wh,
        "tickets",
        raw,
        "landing/tickets/x.csv",
        AS_OF,
        lenient(settings),
        extra_known={"customer_id": CUSTOMERS},
    )
    with wh.transaction():
        write_quarantine(wh, res.quarantined)
        write_quarantine(wh, res.quarantined)  # same file and lines: nothing added twice
    assert wh.row_count("quarantine") == len(bad)
    got = wh.query("SELECT source_line, expectation, reason FROM quarantine ORDER BY source_line")
    assert got["source_line"].tolist() == sorted(bad)


def test_row_failing_two_rules_is_quarantined_once_with_both_reasons(duck, settings):
    raw = clean("feedback", 50)
    raw.loc[3, "score"] = "42"
    raw.loc[3, "survey_type"] = "NPS"
    raw.loc[3, "customer_id"] = "nobody"
    res = validate_batch(
        duck, "feedback", raw, "f.csv", AS_OF, lenient(settings), extra_known={"customer_id": CUSTOMERS}
    )
    assert len(res.quarantined) == 1
    row = res.quarantined.iloc[0]
    assert int(row["source_line"]) == int(raw.loc[3, "_line"])
    assert "expect_column_values_to_be_between(score" in row["expectation"]
    assert "_known_customer_id" in row["expectation"]
    assert "score='42' is out of range" in row["reason"]
    assert "customer_id='nobody' is not a known" in row["reason"]


def test_foreign_keys_resolve_against_the_warehouse_customers_table(wh, settings):
    wh.insert_frame("customers", pd.DataFrame({"customer_id": CUSTOMERS[:100]}), ["customer_id"])
    raw = clean_usage_events(400, CUSTOMERS[:150], DAY)
    res = validate_batch(wh, "usage_events", raw, "u.csv", AS_OF, lenient(settings))
    unknown = ~raw["customer_id"].isin(CUSTOMERS[:100])
    assert len(res.quarantined) == int(unknown.sum()) > 0
    assert res.quarantined["expectation"].str.contains("_known_customer_id").all()


def test_typed_valid_frame_has_contract_dtypes(duck, settings):
    res = validate_batch(duck, "customers", clean("customers", 20), "c.csv", AS_OF, settings)
    v = res.valid
    assert str(v["monthly_revenue"].dtype) == "float64"
    assert str(v["marketing_consent"].dtype) == "bool"
    assert str(v["cancelled_at"].dtype).startswith("datetime64")
    assert v["signup_date"].map(type).eq(__import__("datetime").date).all()
    res = validate_batch(
        duck,
        "usage_events",
        clean("usage_events", 20),
        "u.csv",
        AS_OF,
        settings,
        extra_known={"customer_id": CUSTOMERS},
    )
    assert str(res.valid["quantity"].dtype) == "Int64"
    assert str(res.valid["ts"].dtype) == "datetime64[us]"


def test_iso_timestamps_with_offsets_and_padding_parse(duck, settings):
    raw = clean("feedback", 5)
    raw.loc[0, "ts"] = "2026-02-28T23:30:00+01:00"
    raw.loc[1, "ts"] = "2026-02-28T10:00:00Z"
    raw.loc[2, "score"] = " 7 "
    raw.loc[2, "survey_type"] = "NPS"
    res = validate_batch(
        duck, "feedback", raw, "f.csv", AS_OF, settings, extra_known={"customer_id": CUSTOMERS}
    )
    assert res.success
    assert len(res.valid) == 5
    assert res.valid["ts"].iloc[0] == pd.Timestamp("2026-02-28 22:30:00")


def test_large_batch_streams_in_chunks_and_gx_validates_a_sample(duck, settings):
    from proactive_ml.validation.batch import GX_SAMPLE_ROWS

    raw = clean_usage_events(150_000, CUSTOMERS, DAY)
    raw.loc[[10, 70_000, 149_999], "quantity"] = "-2"
    raw.loc[120_000, ["customer_id", "ts", "feature"]] = raw.loc[
        5, ["customer_id", "ts", "feature"]
    ].to_numpy()
    res = validate_batch(
        duck,
        "usage_events",
        raw,
        "big.csv",
        AS_OF,
        settings,
        chunk_rows=40_000,
        extra_known={"customer_id": CUSTOMERS},
    )
    assert res.success, format_gate_failures(res)
    assert res.stats["gx"]["sampled"]
    assert res.gx_rows == GX_SAMPLE_ROWS
    assert sorted(res.quarantined["source_line"]) == sorted(
        int(raw.loc[i, "_line"]) for i in (10, 70_000, 120_000, 149_999)
    )
    assert len(res.valid) + len(res.quarantined) == len(raw)
    assert (
        "expect_compound_columns_to_be_unique"
        in res.quarantined.set_index("source_line").loc[int(raw.loc[120_000, "_line"]), "expectation"]
    )
