"""No PII in what validation writes: a malformed address is masked in messages, logs, Data Docs and GX results.

The attack: ingest a customers file with a malformed email address, then look for the address on stdout/stderr,
in the log records, the gate message (what Prefect records as a failed run's state message), the quarantine
reasons, ``validation_runs``, the Data Docs HTML and the stored GX result JSON. Only the quarantine's raw row (kept
so the row can be fixed and re-ingested) and the landing file itself may hold it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from proactive_ml.cli import main
from proactive_ml.settings import Settings
from proactive_ml.sim.samples import clean_customers
from proactive_ml.validation.masking import EMAIL, mask_gx_result, placeholder
from proactive_ml.warehouse import open_warehouse

BAD = "zork.private.addr@@exa mple"
NAME = "Zebulon Quixotic-Personname"
DAY = "2026-03-01"


def _landing(root: Path) -> Path:
    from datetime import datetime

    df = clean_customers(30, datetime(2026, 3, 1))
    df = df.drop(columns=[c for c in df.columns if c.startswith("_")])
    df.loc[3, ["email", "name"]] = [BAD, NAME]
    folder = root / "landing" / "customers"
    folder.mkdir(parents=True)
    df.to_csv(folder / f"{DAY}.csv", index=False)
    return root / "landing"


def _leaks(text: str) -> list[str]:
    return [s for s in (BAD, NAME, "zork.private") if s in text]


def test_a_malformed_address_is_masked_everywhere(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("PROACTIVE_DATA_DIR", str(data))
    landing = _landing(tmp_path)
    caplog.set_level(logging.DEBUG)
    # 1 bad row of 30 is over the 2% quarantine share: the gate refuses the file and says why
    assert main(["ingest", str(landing), "--as-of", f"{DAY}T12:00:00"]) != 0
    refused = capsys.readouterr()
    assert "<masked email>" in refused.err + refused.out  # the reason still says what is wrong
    # accepted with a lenient share: the row is quarantined with a reason
    monkeypatch.setenv("PROACTIVE_QUARANTINE_MAX_SHARE", "1.0")
    assert main(["ingest", str(landing), "--as-of", f"{DAY}T13:00:00"]) == 0
    assert main(["quarantine", "list"]) == 0
    loaded = capsys.readouterr()
    for text in (refused.out, refused.err, loaded.out, loaded.err):
        assert not _leaks(text), text
    for rec in caplog.records:
        assert not _leaks(rec.getMessage()), rec.getMessage()
    s = Settings(data_dir=data, _env_file=None)  # type: ignore[call-arg]
    with open_warehouse(s.resolved_warehouse_url) as wh:
        q = wh.query("SELECT reason, raw_row FROM quarantine")
        runs = wh.query("SELECT gate_failures, stats, docs_path FROM validation_runs")
    assert len(q) == 1
    assert q["reason"][0] == f"email='{EMAIL}' is not a well-formed email address"
    assert BAD in q["raw_row"][0]  # the raw row stays re-ingestable
    assert len(runs) == 2
    for col in ("gate_failures", "stats", "docs_path"):
        for v in runs[col]:
            assert not _leaks(str(v)), v
    pages = [
        p for p in data.rglob("*") if p.is_file() and p.suffix in (".html", ".json", ".log", ".txt", ".csv")
    ]
    assert any(p.suffix == ".html" for p in pages)
    assert any(p.suffix == ".json" and "validations" in p.parts for p in pages)
    for p in pages:
        assert not _leaks(p.read_text(errors="replace")), p


def test_gx_results_of_pii_columns_are_masked() -> None:
    result = {
        "partial_unexpected_list": [BAD, None],
        "partial_unexpected_counts": [{"value": BAD, "count": 2}],
        "partial_unexpected_index_list": [3, {"email": BAD, "customer_id": "c1"}],
        "unexpected_count": 2,
    }
    assert mask_gx_result({"column": "email", "regex": "x"}, result)
    assert result["partial_unexpected_list"] == [EMAIL, None]
    assert result["partial_unexpected_counts"] == [{"value": EMAIL, "count": 2}]
    assert result["partial_unexpected_index_list"] == [3, {"email": EMAIL, "customer_id": "c1"}]
    plain = {"partial_unexpected_list": ["Pro+"]}
    assert not mask_gx_result({"column": "plan"}, plain)
    assert plain == {"partial_unexpected_list": ["Pro+"]}
    assert placeholder("name")
    assert placeholder("comment")
    assert placeholder("body_text")
    assert placeholder("playbook") is None
