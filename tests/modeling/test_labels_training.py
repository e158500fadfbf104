"""Label definitions in training: the one-class error, attributes as features, the snapshot label from the CLI."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest

from proactive_ml.cli import main
from proactive_ml.errors import UserError
from proactive_ml.features.point_in_time import build_features, feature_kinds, feature_names
from proactive_ml.modeling.config import LabelSpec, label_spec
from proactive_ml.modeling.datasets import LABEL
from proactive_ml.modeling.label_training import check_two_classes
from proactive_ml.settings import PROJECT_ROOT, Settings
from proactive_ml.sim.companies.snapshot import write_snapshot
from proactive_ml.sim.small_company import customer_row
from proactive_ml.warehouse import Warehouse

SNAPSHOT_SOURCES = """
company: tiny CRM export
landing_dir: {landing}
datasets:
  customers:
    files: "crm_export_*.csv"
    format: csv
    delimiter: ";"
    encoding: latin-1
    decimal: ","
    header: true
    columns:
      customer_id: CustomerNo
      plan: Contract
      signup_date: {{from: CustomerSince, format: "%d.%m.%Y"}}
      monthly_revenue: {{from: MonthlyFee, type: float}}
    attributes:
      tenure_months: {{from: TenureMonths, kind: numeric, reason: "with us only {{value:.0f}} months"}}
      support_calls: {{from: SupportCalls12m, kind: numeric, reason: "called support {{value:.0f}} times"}}
      satisfaction: {{from: Satisfaction, kind: numeric, reason: "satisfaction only {{value:.1f}} of 10"}}
      contract: {{from: Contract, kind: categorical, reason: "on a {{value}} contract"}}
      payment_method: {{from: PaymentMethod, kind: categorical, reason: "pays by {{value}}"}}
    label: {{from: Churned, true: ["Yes"], false: ["No"]}}
"""


def test_one_class_error_names_target_label_window_counts_and_fix() -> None:
    frame = pd.DataFrame({LABEL: [0, 0, 0]})
    with pytest.raises(UserError) as err:
        check_two_classes("churn", LabelSpec("subscription", 30), frame, "30 days after each cutoff")
    text = str(err.value)
    for part in (
        "'churn'",
        "subscription",
        "cancelled within 30 days",
        "30 days after each cutoff",
        "0 -> 3",
        "1 -> 0",
    ):
        assert part in text, part
    assert "--label inactivity --horizon auto" in text
    with pytest.raises(UserError, match="shorter `--horizon`"):
        check_two_classes("churn", LabelSpec("inactivity", 400), frame, "400 days")
    check_two_classes("churn", LabelSpec(), pd.DataFrame({LABEL: [0, 1]}), "w")  # two classes: fine


def test_label_spec_refuses_what_does_not_apply(tmp_path) -> None:
    with pytest.raises(UserError, match="does not apply to target 'need'"):
        label_spec("need", definition="snapshot")
    with pytest.raises(UserError, match="only applies to the inactivity label"):
        label_spec("churn", horizon="auto")
    with pytest.raises(UserError, match="positive number of days"):
        label_spec("churn", horizon=0)


def test_declared_attributes_and_spend_become_features(wh) -> None:
    from proactive_ml.contract import DATASETS

    cust = pd.DataFrame([customer_row(c, date(2026, 1, 1)) for c in ("a", "b")])
    wh.insert_frame("customers", cust, DATASETS["customers"].column_names)
    ev = pd.DataFrame(
        {
            "customer_id": ["a", "a"],
            "ts": pd.to_datetime(["2026-04-20", "2026-02-20"]),
            "feature": "buy",
            "quantity": 1,
            "value": [30.0, 10.0],
        }
    )
    wh.insert_frame("usage_events", ev)
    wh.insert_frame(
        "customer_attribute_defs",
        pd.DataFrame(
            {
                "name": ["age", "region"],
                "kind": ["numeric", "categorical"],
                "reason": ["", ""],
                "updated_at": pd.Timestamp("2026-01-01"),
            }
        ),
    )
    wh.insert_frame(
        "customer_attributes",
        pd.DataFrame(
            {
                "customer_id": ["a", "a", "b"],
                "name": ["age", "region", "age"],
                "kind": ["numeric", "categorical", "numeric"],
                "value_num": [41.0, None, 29.0],
                "value_text": [None, "north", None],
                "updated_at": pd.Timestamp("2026-01-01"),
            }
        ),
    )
    X = build_features(wh, date(2026, 5, 1))
    assert list(X.columns[: len(feature_names())]) == feature_names()
    assert X.loc[["a", "b"], "age"].tolist() == [41.0, 29.0]
    assert X.loc[["a", "b"], "region"].tolist() == ["north", "missing"]
    assert X.loc["a", ["spend_30d", "spend_90d"]].tolist() == [30.0, 40.0]
    assert X.loc["b", "spend_90d"] == 0.0
    numeric, categorical = feature_kinds(X)
    assert {"age", "spend_trend_30d"} <= set(numeric)
    assert "region" in categorical


def test_cli_trains_the_snapshot_label(tmp_path, monkeypatch, capsys, caplog) -> None:
    landing = tmp_path / "crm"
    write_snapshot(landing, n_customers=300, seed=3)
    sources = tmp_path / "sources.yaml"
    sources.write_text(SNAPSHOT_SOURCES.format(landing=landing), encoding="utf-8")
    monkeypatch.setenv("PROACTIVE_DATA_DIR", str(tmp_path / "data"))
    assert main(["ingest", "--sources", str(sources), "--as-of", "2026-07-01T00:00:00"]) == 0
    capsys.readouterr()
    assert main(["train", "--label", "snapshot", "--as-of", "2026-07-01"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (out["target"], out["label"], out["n_rows"], out["version"]) == ("churn", "snapshot", 300, "1")
    assert out["promoted"]
    assert 0.5 < out["cv5_roc_auc"] <= 1.0
    assert (
        main(["score", "--target", "churn", "--as-of", "2026-07-01"]) == 0
    )  # a snapshot company is scored too
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["scored"] == 300
    with Warehouse.connect(Settings(_env_file=None).resolved_warehouse_url) as wh:  # type: ignore[call-arg]
        shown = wh.query("SELECT reason_1 AS r FROM scores UNION ALL SELECT reason_2 FROM scores")[
            "r"
        ].dropna()
    ours = ("with us only ", "called support ", "satisfaction only ", "on a ", "pays by ")
    assert shown.str.startswith(ours).any()  # the mapping's own words reach the reasons
    defaults = ("tenure months:", "support calls:", "satisfaction:", "contract:", "payment method:")
    assert not shown.str.startswith(defaults).any(), sorted(set(shown))
    # no email, no consent column: a person can still call the customers at risk (the telco example's playbooks)
    monkeypatch.setenv(
        "PROACTIVE_PLAYBOOKS_FILE", str(PROJECT_ROOT / "examples" / "telco" / "playbooks.yaml")
    )
    assert main(["outreach", "--no-send", "--as-of", "2026-07-01T14:00:00"]) == 0
    captured = capsys.readouterr()
    out = captured.out.strip()
    summary = json.loads(out[out.rindex("\n{") + 1 :] if "\n{" in out else out)  # printed indented
    assert summary["no_consent"] == summary["no_email"] == 0  # neither stops a person's call
    assert summary["tasks"] == summary["treated"] > 0
    assert summary["held_out"] > 0  # the calls keep their randomized holdout
    assert summary["recorded"]["ledger"] == 0  # and nobody is emailed
    assert (
        summary["unassigned_tasks"] == summary["tasks"]
    )  # nobody on the desk yet: said, for a lead to hand out
    assert "desk add-user" in caplog.text  # the CLI prints it on stderr
