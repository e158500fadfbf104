"""The example companies end to end through the CLI, as a data team runs them: ingest, train, score, outreach.

The retailer (``examples/retail``) has a purchase log and a customers file: no cancellation date, no plan, no
revenue, no tickets, no surveys. Every stage must still work on it, and scoring must give reasons, as it does on
the subscription company of the demo.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from proactive_ml.cli import main
from proactive_ml.outreach.vocabulary import check_outbox
from proactive_ml.settings import PROJECT_ROOT, Settings
from proactive_ml.sim.companies import write_retail
from proactive_ml.sim.sink import start_sink_in_thread
from proactive_ml.warehouse import Warehouse

AS_OF = "2026-07-01"


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    """The JSON object a command printed last (one line or indented)."""
    out = capsys.readouterr().out.strip()
    return json.loads(out[out.rindex("\n{") + 1 :] if "\n{" in out else out)


def _retail_company(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small simulated retailer's files, the example mapping pointed at them (returned) and a private data folder."""
    landing = tmp_path / "retail"
    write_retail(landing, n_customers=600, seed=3)
    spec = yaml.safe_load((PROJECT_ROOT / "examples" / "retail" / "sources.yaml").read_text(encoding="utf-8"))
    spec["landing_dir"] = str(landing)
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump(spec), encoding="utf-8")
    monkeypatch.setenv("PROACTIVE_DATA_DIR", str(tmp_path / "data"))
    return sources


def test_retail_purchase_log_is_ingested_trained_scored_with_reasons_and_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = _retail_company(tmp_path, monkeypatch)

    assert main(["ingest", "--sources", str(sources), "--as-of", f"{AS_OF}T00:00:00"]) == 0
    assert (
        main(["train", "--target", "churn", "--label", "inactivity", "--horizon", "auto", "--as-of", AS_OF])
        == 0
    )
    capsys.readouterr()
    assert main(["score", "--target", "churn", "--as-of", AS_OF]) == 0  # it used to raise a TypeError here
    assert _json(capsys)["scored"] > 0
    assert main(["outreach", "--no-send", "--as-of", f"{AS_OF}T14:00:00"]) == 0
    summary = _json(capsys)
    assert summary["decided"] > 0

    monkeypatch.setenv("PROACTIVE_SENDGRID_HOST", "http://127.0.0.1:9")  # nothing listens there
    assert main(["outreach", "--as-of", f"{AS_OF}T14:00:00"]) == 2
    err = capsys.readouterr().err
    assert "the mail server at http://127.0.0.1:9 cannot be reached" in err
    assert "mail-sink" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1

    url = Settings(_env_file=None).resolved_warehouse_url  # type: ignore[call-arg]
    with Warehouse.connect(url) as wh:
        top = wh.query(
            """SELECT reason_1 FROM scores WHERE target = 'churn'
               ORDER BY score DESC LIMIT (SELECT count(*) / 10 FROM scores WHERE target = 'churn')"""
        )
        assert top["reason_1"].notna().all()  # the top decile of risk, each with a reason
        unreachable = wh.scalar(
            """SELECT count(*) FROM decisions d JOIN customers c USING (customer_id)
               WHERE d.arm = 'treatment' AND d.action = 'email'
                 AND (c.email IS NULL OR c.marketing_consent IS NOT TRUE)"""
        )
        assert unreachable == 0  # no email planned to a customer without an address or without consent
        assert wh.scalar("SELECT count(*) FROM send_ledger WHERE state = 'accepted'") == 0


def test_retail_emails_speak_as_a_shop_with_its_own_templates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The retail example's template folder (PROACTIVE_TEMPLATES_DIR) over the shipped one, sent to the sink."""
    sources = _retail_company(tmp_path, monkeypatch)
    monkeypatch.setenv("PROACTIVE_TEMPLATES_DIR", str(PROJECT_ROOT / "examples" / "retail" / "templates"))
    assert main(["ingest", "--sources", str(sources), "--as-of", f"{AS_OF}T00:00:00"]) == 0
    assert main(["train", "--target", "churn", "--label", "inactivity", "--as-of", AS_OF]) == 0
    assert main(["score", "--target", "churn", "--as-of", AS_OF]) == 0
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    url, stop, ctl = start_sink_in_thread(s)
    try:
        monkeypatch.setenv("PROACTIVE_SENDGRID_HOST", url)
        capsys.readouterr()
        assert main(["outreach", "--as-of", f"{AS_OF}T14:00:00"]) == 0
        assert _json(capsys)["sent"] > 0
        assert ctl.outbox is not None
        assert ctl.outbox.wait_files()
    finally:
        stop()
    emails = [f.read_text(encoding="utf-8") for f in sorted(s.outbox_dir.glob("*.eml"))]
    assert emails
    assert check_outbox(s.outbox_dir)["with_problems"] == 0
    for text in emails:
        assert "our shop" in text  # every shop template speaks of the shop
        software = ("your team", "the product", "subscription", "new tool", "getting started", "set it up")
        assert not [w for w in software if w in text], text  # subjects (in the .eml headers) included
