"""Quarantine CLI: list, export, fix, re-ingest; fixed rows land in the raw table and leave the quarantine."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from proactive_ml.settings import Settings
from proactive_ml.sim.samples import clean_feedback, customer_ids
from proactive_ml.validation import (
    export_quarantine,
    list_quarantine,
    reingest_quarantine,
    validate_batch,
    write_quarantine,
)

DAY = datetime(2026, 3, 1)
CUSTOMERS = customer_ids(50)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One data folder per module (one cached GX context, templates compiled once): keeps GX cheap."""
    return Settings(data_dir=tmp_path_factory.mktemp("validation") / "data", _env_file=None)  # type: ignore[call-arg]


def _quarantine_some(wh, settings: Settings) -> pd.DataFrame:
    wh.insert_frame("customers", pd.DataFrame({"customer_id": CUSTOMERS}), ["customer_id"])
    raw = clean_feedback(40, CUSTOMERS, DAY)
    raw.loc[2, ["survey_type", "score"]] = ["NPS", "12"]
    raw.loc[5, "ts"] = "last tuesday"
    raw.loc[9, "customer_id"] = "ghost"
    lenient = Settings(data_dir=settings.data_dir, quarantine_max_share=1.0, _env_file=None)  # type: ignore[call-arg]
    res = validate_batch(wh, "feedback", raw, "landing/feedback/2026-03-01.csv", DAY, lenient)
    with wh.transaction():
        wh.insert_frame("feedback", res.valid)
        write_quarantine(wh, res.quarantined)
    return raw


def test_export_fix_and_reingest(wh, settings, tmp_path):
    raw = _quarantine_some(wh, settings)
    assert wh.row_count("feedback") == 37
    q = list_quarantine(wh, "feedback")
    assert len(q) == 3
    assert set(q["column"]) == {"score", "ts", "customer_id"}
    out = tmp_path / "q.csv"
    assert export_quarantine(wh, out) == 3
    fixed = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(fixed.columns[:6]) == [
        "dataset",
        "source_file",
        "source_line",
        "column",
        "expectation",
        "reason",
    ]
    fixed.loc[fixed["column"] == "score", "score"] = "10"
    fixed.loc[fixed["column"] == "ts", "ts"] = "2026-02-28 12:00:00"
    fixed.to_csv(out, index=False)  # the ghost customer stays unfixed
    got = reingest_quarantine(wh, settings, out, DAY)
    assert got == {"rows": 3, "loaded": 2, "still_quarantined": 1, "already_loaded": 0}
    assert wh.row_count("feedback") == 39
    left = list_quarantine(wh)
    assert len(left) == 1
    assert "ghost" in left["reason"][0]
    assert int(left["source_line"][0]) == int(raw.loc[9, "_line"])
    loaded = wh.query("SELECT score FROM feedback WHERE feedback_id = :f", {"f": raw.loc[2, "feedback_id"]})
    assert int(loaded["score"][0]) == 10
    # re-ingesting the same export again loads nothing twice
    got = reingest_quarantine(wh, settings, out, DAY)
    assert got["loaded"] == 0
    assert got["already_loaded"] == 2
    assert wh.row_count("feedback") == 39


def test_cli_list_export_reingest(tmp_path, monkeypatch, capsys):
    from proactive_ml.cli import main
    from proactive_ml.warehouse import open_warehouse

    data = tmp_path / "data"
    monkeypatch.setenv("PROACTIVE_DATA_DIR", str(data))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "400")
    s = Settings(data_dir=data, _env_file=None)  # type: ignore[call-arg]
    with open_warehouse(s.resolved_warehouse_url) as wh:
        _quarantine_some(wh, s)
    assert main(["quarantine", "list", "--dataset", "feedback"]) == 0
    out = capsys.readouterr().out
    assert "quarantine: 3 row(s)" in out
    assert "expect_column_values_to_be_in_set(_known_customer_id)" in out
    csv = tmp_path / "q.csv"
    assert main(["quarantine", "export", "--out", str(csv)]) == 0
    assert "exported 3" in capsys.readouterr().out
    assert main(["quarantine", "reingest", str(csv), "--as-of", "2026-03-01T06:00:00"]) == 0
    assert "re-ingested 0 of 3 row(s); still quarantined: 3" in capsys.readouterr().out
    assert main(["validation", "runs"]) == 0
    assert "reingest" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:  # argparse refuses a missing file before anything runs
        main(["quarantine", "reingest", str(tmp_path / "nope.csv")])
    assert refused.value.code == 2


def test_export_neutralises_formulas_and_reingest_restores_them(wh, settings, tmp_path):
    """A comment that is a spreadsheet formula leaves quoted and comes back as it was written."""
    wh.insert_frame("customers", pd.DataFrame({"customer_id": CUSTOMERS}), ["customer_id"])
    raw = clean_feedback(5, CUSTOMERS, DAY)
    link = '=HYPERLINK("http://evil.example","Click")'
    raw.loc[1, ["survey_type", "score", "comment"]] = ["NPS", "12", link]
    lenient = Settings(data_dir=settings.data_dir, quarantine_max_share=1.0, _env_file=None)  # type: ignore[call-arg]
    res = validate_batch(wh, "feedback", raw, "landing/feedback/2026-03-01.csv", DAY, lenient)
    with wh.transaction():
        write_quarantine(wh, res.quarantined)
    out = tmp_path / "q.csv"
    assert export_quarantine(wh, out) == 1
    assert "'" + link.replace('"', '""') in out.read_text()  # quoted: a spreadsheet shows it as text
    fixed = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert fixed["comment"][0] == "'" + link
    fixed.loc[0, "score"] = "9"  # the person fixes the score and leaves the comment alone
    fixed.to_csv(out, index=False)
    assert reingest_quarantine(wh, settings, out, DAY)["loaded"] == 1
    got = wh.query("SELECT comment FROM feedback WHERE feedback_id = :f", {"f": raw.loc[1, "feedback_id"]})
    assert got["comment"][0] == link
