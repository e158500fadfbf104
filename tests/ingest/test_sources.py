"""Bring your own data: a sources.yaml maps a company's files to the contract (casts, constants, aggregation),
problems name file, line and column, ``sources check`` writes nothing, and a mapped run loads the warehouse.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from proactive_ml.cli import main
from proactive_ml.errors import GateFailure, IngestError, UserError
from proactive_ml.ingest.check import check_sources
from proactive_ml.ingest.files import ingest_path
from proactive_ml.ingest.mapping import load_sources
from proactive_ml.ingest.sources import (
    customer_attributes,
    customer_labels,
    ingest_sources,
    map_file,
    plan_sources,
)
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse

AS_OF = datetime(2024, 3, 2)


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _mapping(tmp_path: Path, yaml_text: str) -> Path:
    return _write(tmp_path / "sources.yaml", yaml_text)


def _mapped(tmp_path: Path, yaml_text: str, dataset: str) -> pd.DataFrame:
    plan = plan_sources(load_sources(_mapping(tmp_path, yaml_text)))
    tables = [map_file(plan, dataset, p) for p in plan.files[dataset]]
    return pd.concat([t.frame for t in tables], ignore_index=True)


CUSTOMERS_YAML = """
company: Test
landing_dir: landing
datasets:
  customers:
    files: "customers/*.csv"
    delimiter: ";"
    decimal: ","
    columns:
      customer_id: CustomerID
      signup_date: {{from: first_seen, format: "%d/%m/%Y"}}
      marketing_consent: {{from: opt_in, true: [Yes, Y], false: [No, N]}}
      monthly_revenue: {{from: charges, type: float}}
      plan: {{constant: standard}}
{extra}
"""


@pytest.fixture
def customers_csv(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "landing" / "customers" / "c.csv",
        "CustomerID;first_seen;opt_in;charges;tenure;Contract;Churn\n"
        "A1;05/01/2024;Yes;29,85;3;Month-to-month;Yes\n"
        "A2;31/12/2023;no;1.234,50;12;One year;No\n"
        "A3;07/02/2024;N;0,5;;Two year;No\n",
    )


# ---------------------------------------------------------------------------------------------- casts
def test_dates_with_format_yes_no_booleans_decimal_comma_and_constants(tmp_path: Path, customers_csv: Path):
    df = _mapped(tmp_path, CUSTOMERS_YAML.format(extra=""), "customers")
    assert df["signup_date"].tolist() == ["2024-01-05", "2023-12-31", "2024-02-07"]
    assert df["marketing_consent"].tolist() == ["true", "false", "false"]
    assert df["monthly_revenue"].tolist() == ["29.85", "1234.50", "0.5"]
    assert df["plan"].tolist() == ["standard"] * 3
    assert df["email"].isna().all()  # unmapped optional column: empty
    assert df["_line"].tolist() == [2, 3, 4]


def test_true_false_booleans_and_timestamp_format(tmp_path: Path):
    _write(
        tmp_path / "landing" / "ev.csv",
        "who,when,flag\nA1,2024-01-05 10:30,TRUE\nA1,2024-01-06 11:00,FALSE\n",
    )
    yaml_text = """
datasets:
  customers:
    files: ev.csv
    landing_dir: x
"""
    with pytest.raises(UserError, match=r"datasets\.customers\.landing_dir: unknown key"):
        load_sources(_mapping(tmp_path, yaml_text))
    yaml_text = """
landing_dir: landing
datasets:
  customers:
    files: ev.csv
    columns:
      customer_id: who
      signup_date: {from: when, format: "%Y-%m-%d %H:%M"}
      cancelled_at: {from: when, format: "%Y-%m-%d %H:%M"}
      marketing_consent: {from: flag, true: ["TRUE"], false: ["FALSE"]}
"""
    df = _mapped(tmp_path, yaml_text, "customers")
    assert df["marketing_consent"].tolist() == ["true", "false"]
    assert df["cancelled_at"].tolist() == ["2024-01-05T10:30:00", "2024-01-06T11:00:00"]
    assert df["signup_date"].tolist() == ["2024-01-05", "2024-01-06"]


PURCHASES_YAML = """
landing_dir: landing
datasets:
  usage_events:
    files: "purchases/*.txt"
    delimiter: whitespace
    encoding: {encoding}
    header: false
    names: [customer, date, amount]
    columns:
      customer_id: customer
      ts: {{from: date, format: "%Y%m%d"}}
      feature: {{constant: purchase}}
      value: {{from: amount, type: float}}
{how}
"""


def test_whitespace_delimiter_header_false_names_and_aggregation_sums(tmp_path: Path):
    _write(
        tmp_path / "landing" / "purchases" / "log.txt",
        "00001  19970101   11.77\n00002 19970112 12.00\n\n  00002\t19970112  77.50\n00003 19970102 20.76\n",
    )
    df = _mapped(tmp_path, PURCHASES_YAML.format(encoding="utf-8", how="    aggregate: sum"), "usage_events")
    assert df["customer_id"].tolist() == ["00001", "00002", "00003"]  # leading zeros kept
    two = df.loc[df["customer_id"] == "00002"].iloc[0]
    assert (two["quantity"], two["value"], two["ts"], two["_line"]) == ("2", "89.5", "1997-01-12T00:00:00", 2)
    assert df.loc[df["customer_id"] == "00003", "_line"].item() == 5  # the blank line still counts
    assert df["feature"].eq("purchase").all()


def test_without_aggregation_repeats_stay_and_are_quarantined_as_duplicates(tmp_path: Path):
    _write(tmp_path / "landing" / "purchases" / "log.txt", "1 19970112 12.00\n1 19970112 77.00\n")
    yaml_path = _mapping(tmp_path, PURCHASES_YAML.format(encoding="utf-8", how=""))
    report = check_sources(load_sources(yaml_path), as_of=AS_OF)
    ev = next(d for d in report.datasets if d.name == "usage_events")
    assert any(p.line == 2 and "duplicate key" in p.message for p in ev.problems)


def test_event_id_keys_rows_instead_of_aggregating(tmp_path: Path):
    _write(
        tmp_path / "landing" / "purchases" / "log.txt",
        "1 19970112 12.00 o-1\n1 19970112 77.00 o-2\n1 19970112 77.00 o-2\n",
    )
    yaml_text = PURCHASES_YAML.format(encoding="utf-8", how="    event_id: order").replace(
        "[customer, date, amount]", "[customer, date, amount, order]"
    )
    df = _mapped(tmp_path, yaml_text, "usage_events")
    assert df["event_id"].tolist() == ["o-1", "o-2", "o-2"]
    report = check_sources(load_sources(tmp_path / "sources.yaml"), as_of=AS_OF)
    problems = [p for d in report.datasets for p in d.problems]
    assert [p.line for p in problems if "duplicate key (event_id=" in p.message] == [3]


def test_latin1_encoding(tmp_path: Path):
    _write(tmp_path / "landing" / "purchases" / "log.txt", "Müller 19970112 12.00\n".encode("latin-1"))
    df = _mapped(tmp_path, PURCHASES_YAML.format(encoding="latin-1", how=""), "usage_events")
    assert df["customer_id"].tolist() == ["Müller"]
    assert not df["_decode_error"].any()


def test_parquet_and_jsonl_sources(tmp_path: Path):
    land = tmp_path / "landing"
    land.mkdir()
    pd.DataFrame(
        {"id": ["A1", "A2"], "since": pd.to_datetime(["2024-01-05", "2024-02-01"]), "fee": [9.5, None]}
    ).to_parquet(land / "c.parquet")
    _write(
        land / "e.jsonl",
        '{"cid": "A1", "t": "05.01.2024", "n": 3}\n\n{"cid": "A2", "t": "06.01.2024", "n": 1}\n',
    )
    yaml_text = """
landing_dir: landing
datasets:
  customers:
    files: "*.parquet"
    format: parquet
    columns:
      customer_id: id
      signup_date: {from: since, format: "%d/%m/%Y"}
      monthly_revenue: fee
  usage_events:
    files: "*.jsonl"
    format: jsonl
    columns: {customer_id: cid, ts: {from: t, format: "%d.%m.%Y"}, feature: {constant: visit}, quantity: n}
"""
    c = _mapped(tmp_path, yaml_text, "customers")
    assert c["signup_date"].tolist() == ["2024-01-05", "2024-02-01"]  # typed dates need no format
    assert c["monthly_revenue"].tolist() == ["9.5", None]
    e = _mapped(tmp_path, yaml_text, "usage_events")
    assert e["ts"].tolist() == ["2024-01-05T00:00:00", "2024-01-06T00:00:00"]
    assert e["quantity"].tolist() == ["3", "1"]
    assert e["_line"].tolist() == [1, 3]


# ---------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("datasets:\n  customers:\n    files: a.csv\n    colums: {}\n", "datasets.customers.colums"),
        ("datasets:\n  custmers: {files: a.csv}\n", "datasets.custmers"),
        (
            "datasets:\n  usage_events:\n    files: a\n    columns: {customer_id: a, ts: {from: b, fromat: x}}\n",
            "datasets.usage_events.columns.ts.fromat",
        ),
        (
            "datasets:\n  usage_events:\n    files: a\n    columns: {customer_id: a, feature: b}\n",
            "columns.ts",
        ),
        (
            "datasets:\n  customers:\n    files: a\n    header: false\n    columns: {customer_id: a}\n",
            "names",
        ),
        ("compnay: x\ndatasets: {}\n", "compnay"),
        (
            'datasets:\n  customers:\n    files: a\n    columns: {customer_id: a}\n    attributes:\n      tenure: {from: t, kind: numeric, reason: "with us only {valeu:.0f} months"}\n',
            "attributes.tenure.reason: unknown field {valeu}",
        ),
        (
            'datasets:\n  customers:\n    files: a\n    columns: {customer_id: a}\n    attributes:\n      tenure: {from: t, kind: categorical, reason: "on a {value:.0f} contract"}\n',
            "attributes.tenure.reason: Unknown format code 'f'",
        ),
        (
            'datasets:\n  customers:\n    files: a\n    columns: {customer_id: a}\n    attributes:\n      tenure: {from: t, kind: numeric, reason: "with us {value months"}\n',
            "attributes.tenure.reason: not a reason text",
        ),
    ],
    ids=[
        "unknown-dataset-key",
        "unknown-dataset",
        "unknown-column-key",
        "required-unmapped",
        "no-names",
        "top",
        "reason-typo",
        "reason-number-format-on-text",
        "reason-unclosed",
    ],
)
def test_mapping_errors_name_the_yaml_key(tmp_path: Path, yaml_text: str, key: str):
    path = _mapping(tmp_path, yaml_text)
    with pytest.raises(UserError) as err:
        load_sources(path)
    assert str(path) in str(err.value)
    assert key in str(err.value)


def test_cast_failure_names_file_line_and_column_and_quarantines_the_row(tmp_path: Path, customers_csv: Path):
    with customers_csv.open("a", encoding="utf-8") as f:
        f.write("A4;31/02/2024;Maybe;12,0;1;One year;No\n")
    report = check_sources(load_sources(_mapping(tmp_path, CUSTOMERS_YAML.format(extra=""))), as_of=AS_OF)
    probs = [str(p) for p in report.problems]
    assert any(f"{customers_csv}, line 5, column 'first_seen'" in p and "%d/%m/%Y" in p for p in probs)
    assert any(f"{customers_csv}, line 5, column 'opt_in'" in p and "'Maybe'" in p for p in probs)
    # validation sees the same row fail (it would be quarantined), naming the contract columns
    assert any("line 5, column 'signup_date," in p and "marketing_consent" in p for p in probs)
    assert not report.ok


def test_missing_mapped_column_refuses_the_file(tmp_path: Path):
    _write(tmp_path / "landing" / "customers" / "c.csv", "CustomerID;opt_in\nA1;Yes\n")
    plan = plan_sources(load_sources(_mapping(tmp_path, CUSTOMERS_YAML.format(extra=""))))
    with pytest.raises(IngestError) as err:
        map_file(plan, "customers", plan.files["customers"][0])
    assert err.value.line == 1
    assert err.value.column == "first_seen"


def test_unclaimed_files_are_listed_and_nothing_claimed_is_fatal(tmp_path: Path, customers_csv: Path):
    _write(tmp_path / "landing" / "purchases.txt", "1 19970101 1.0\n")
    report = check_sources(load_sources(_mapping(tmp_path, CUSTOMERS_YAML.format(extra=""))), as_of=AS_OF)
    assert any("purchases.txt" in w and ".txt" in w for w in report.warnings)
    yaml_text = CUSTOMERS_YAML.format(extra="").replace("customers/*.csv", "nothing/*.csv")
    report = check_sources(load_sources(_mapping(tmp_path, yaml_text)), as_of=AS_OF)
    assert report.fatal
    assert not report.ok


def test_landing_folder_with_only_unknown_files_fails_listing_them(duck: Warehouse, tmp_path: Path, settings):
    _write(tmp_path / "landing" / "purchases.txt", "1 19970101 1.0\n")
    with pytest.raises(UserError, match=r"(?s)nothing was loaded.*purchases\.txt"):
        ingest_path(duck, tmp_path / "landing", settings, AS_OF)


def test_sources_check_cli_writes_nothing(tmp_path: Path, customers_csv: Path, monkeypatch, capsys):
    data = tmp_path / "data"
    monkeypatch.setenv("PROACTIVE_DATA_DIR", str(data))
    path = _mapping(tmp_path, CUSTOMERS_YAML.format(extra=""))
    rc = main(["sources", "check", "--sources", str(path), "--rows", "2", "--as-of", "2024-03-02"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "A1" in out
    assert "A3" not in out  # two rows shown
    assert "nothing was written" in out
    assert not data.exists()  # no warehouse, no Data Docs, nothing


# ---------------------------------------------------------------------------------------------- warehouse
def test_mapped_run_loads_customers_attributes_labels_and_summed_events(
    wh: Warehouse, tmp_path: Path, customers_csv: Path, settings: Settings
):
    extra = """    attributes:
      tenure: {from: tenure, kind: numeric, reason: "been with us {value} months"}
      contract: {from: Contract, kind: categorical}
    label: {from: Churn, true: [Yes], false: [No]}
  usage_events:
    files: "purchases/*.txt"
    delimiter: whitespace
    header: false
    names: [customer, date, amount]
    columns:
      customer_id: customer
      ts: {from: date, format: "%Y%m%d"}
      feature: {constant: purchase}
      value: {from: amount, type: float}
    aggregate: sum"""
    _write(tmp_path / "landing" / "purchases" / "p.txt", "A1 20240301 1.5\nA1 20240301 2.5\nA2 20240302 3\n")
    config = load_sources(_mapping(tmp_path, CUSTOMERS_YAML.format(extra=extra)))
    summary = ingest_sources(wh, config, settings, AS_OF)
    assert (summary.loaded, summary.quarantined) == (2, 0)
    c = wh.query("SELECT customer_id, marketing_consent, monthly_revenue FROM customers ORDER BY customer_id")
    assert c["monthly_revenue"].tolist() == [29.85, 1234.5, 0.5]
    e = wh.query("SELECT customer_id, quantity, value FROM usage_events ORDER BY customer_id")
    assert e.values.tolist() == [["A1", 2, 4.0], ["A2", 1, 3.0]]
    attrs = customer_attributes(wh)
    assert attrs.loc["A2", "tenure"] == 12.0
    assert pd.isna(attrs.loc["A3", "tenure"])
    assert attrs.loc["A1", "contract"] == "Month-to-month"
    assert attrs.attrs["reasons"]["tenure"] == "been with us {value} months"
    labels = customer_labels(wh)
    assert dict(zip(labels["customer_id"], labels["label"].astype(bool), strict=True)) == {
        "A1": True,
        "A2": False,
        "A3": False,
    }
    again = ingest_sources(wh, config, settings, AS_OF)
    assert (again.loaded, again.skipped) == (0, 2)


def test_purchase_log_alone_derives_customers(duck: Warehouse, tmp_path: Path, settings: Settings):
    _write(tmp_path / "landing" / "purchases" / "p.txt", "7 20240301 1.5\n7 20240215 2\n8 20240302 3\n")
    _write(tmp_path / "landing" / "notes.md", "not data\n")
    config = load_sources(
        _mapping(tmp_path, PURCHASES_YAML.format(encoding="utf-8", how="    aggregate: sum"))
    )
    summary = ingest_sources(duck, config, settings, AS_OF)
    assert [p.name for p in summary.unclaimed] == ["notes.md"]
    c = duck.query("SELECT customer_id, signup_date FROM customers ORDER BY customer_id")
    assert [pd.Timestamp(d).date().isoformat() for d in c["signup_date"]] == ["2024-02-15", "2024-03-02"]
    assert duck.scalar("SELECT count(*) FROM usage_events") == 3


def test_yearly_history_files_load_and_only_the_newest_must_be_fresh(
    duck: Warehouse, tmp_path: Path, settings: Settings
):
    how = "    aggregate: sum"
    config = load_sources(_mapping(tmp_path, PURCHASES_YAML.format(encoding="utf-8", how=how)))
    _write(tmp_path / "landing" / "purchases" / "p_2022.txt", "7 20220301 1.5\n8 20221230 2\n")
    _write(tmp_path / "landing" / "purchases" / "p_2023.txt", "7 20230301 1.5\n8 20231230 2\n")
    _write(tmp_path / "landing" / "purchases" / "p_2024.txt", "7 20240301 1.5\n")
    summary = ingest_sources(duck, config, settings, AS_OF)
    assert summary.loaded == 4  # derived customers + three yearly files
    runs = duck.query("SELECT source_file, success FROM validation_runs WHERE dataset = 'usage_events'")
    assert len(runs) == 3
    assert runs["success"].all()
    # a backfill whose newest file is itself stale is still refused
    stale = tmp_path / "stale"
    _write(stale / "purchases" / "p_2021.txt", "7 20210301 1.5\n")
    _write(stale / "purchases" / "p_2022.txt", "7 20220301 1.5\n")
    with pytest.raises(GateFailure, match="p_2022.txt(.|\n)*older than 3 days"):
        ingest_sources(duck, config, settings, AS_OF, landing=stale)
