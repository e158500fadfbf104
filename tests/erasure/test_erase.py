"""``proactive-ml erase CUSTOMER_ID``: no copy of the address or name survives anywhere the product writes.

A customer is emailed through the real sink (outbox: log line, .eml and .html), has feedback, a ticket, a reply
(warehouse row and raw inbound request), appears in a batched webhook body next to another customer, in a
quarantined row, a landing file and an old Data Docs page. After the erasure every text column of every table and
every file under the data folder (the warehouse file and the raw store included) is scanned for the address and
the name; the suppression by hash remains, the pseudonymous ledger remains, the other customer is untouched.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from proactive_ml.cli import main
from proactive_ml.identity import email_hash
from proactive_ml.outreach.dispatch import deliver_pending
from proactive_ml.responses.store import RawStore, raw_store_path
from proactive_ml.responses.suppressions import is_suppressed
from proactive_ml.settings import Settings
from proactive_ml.sim.outreach_samples import make_customers, plan_direct, seed_warehouse
from proactive_ml.sim.sink import start_sink_in_thread
from proactive_ml.warehouse import Warehouse

NOW = datetime(2026, 11, 24, 14)
WHO, OTHER = "c000003", "c000004"


def _populate(wh: Warehouse, settings: Settings) -> pd.DataFrame:
    c = make_customers(8, seed=2, consent_share=1.0)
    c.loc[3, "email"] = "Kim.Erasable@Example.org"  # mixed case: matched case-insensitively
    seed_warehouse(wh, c, date(2026, 11, 23))
    plan_direct(wh, c, "renewal_risk", date(2026, 11, 24), NOW)
    host, stop, ctl = start_sink_in_thread(settings)
    try:
        deliver_pending(wh, settings.model_copy(update={"sendgrid_host": host}), now=NOW, clock=lambda: NOW)
    finally:
        stop()
    e3, n3, e4 = c.loc[3, "email"], c.loc[3, "name"], c.loc[4, "email"]
    wh.execute(
        "INSERT INTO feedback (feedback_id, customer_id, survey_type, ts, score, comment) "
        "VALUES ('f1', :c, 'NPS', :t, 3, :m)",
        {"c": WHO, "t": NOW, "m": f"I am {n3}, write to {e3}"},
    )
    raw = RawStore(raw_store_path(settings))
    rid = raw.append("inbound", "/inbound", {"x": "1"}, f"from={n3} <{e3}>&text=call me".encode(), NOW)
    raw.append("events", "/events", {"x": "1"}, json.dumps([{"email": e3}, {"email": e4}]).encode(), NOW)
    wh.execute(
        "INSERT INTO replies (reply_id, customer_id, email_sha256, subject, body_text, is_auto, is_stop, "
        "received_at, raw_id, ingested_at) VALUES ('r1', :c, :h, 'Re: hi', :b, FALSE, FALSE, :t, :rid, :t)",
        {"c": WHO, "h": email_hash(e3), "b": f"Thanks, {n3}", "t": NOW, "rid": rid},
    )
    wh.execute(
        "INSERT INTO quarantine (dataset, source_file, source_line, column_name, expectation, reason, raw_row, "
        "quarantined_at) VALUES ('customers', 'x.csv', 2, 'plan', 'e', 'bad plan', :r, :t)",
        {"r": json.dumps({"customer_id": WHO, "email": e3.lower(), "name": n3}), "t": NOW},
    )
    landing = settings.data_dir / "landing" / "customers" / "2026-11-20.csv"
    landing.parent.mkdir(parents=True)
    c.to_csv(landing, index=False)
    wh.execute(
        "INSERT INTO ingest_log VALUES (:h, 'customers', :p, 8, 8, 0, :t)",
        {"h": hashlib.sha256(landing.read_bytes()).hexdigest(), "p": str(landing), "t": NOW},
    )
    (settings.data_dir / "data_docs").mkdir(exist_ok=True)
    (settings.data_docs_dir / "old.html").write_text(f"<td>{e3.upper()}</td><td>{n3}</td>")
    return c


def _text_hits(wh: Warehouse, needles: list[str]) -> list[str]:
    cols = wh.query(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND upper(data_type) IN ('VARCHAR', 'TEXT', 'CHARACTER VARYING')"
    )
    hits = []
    for t, col in zip(cols["table_name"], cols["column_name"], strict=True):
        for n in needles:
            if wh.scalar(f"SELECT count(*) FROM {t} WHERE lower({col}) LIKE :n", {"n": f"%{n.lower()}%"}):
                hits.append(f"{t}.{col}")
    return hits


def _file_hits(root: Path, needles: list[str]) -> list[str]:
    forms = {f.lower().encode() for n in needles for f in (n, n.replace("@", "%40"))}
    return [
        str(p) for p in root.rglob("*") if p.is_file() and any(f in p.read_bytes().lower() for f in forms)
    ]


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_erase_leaves_no_copy_of_the_address_or_name(
    backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    url = request.getfixturevalue("pg_url") if backend == "postgres" else ""
    settings = Settings(data_dir=tmp_path / "data", warehouse_url=url, _env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("PROACTIVE_WAREHOUSE_URL", url)
    wh = Warehouse.connect(settings.resolved_warehouse_url)
    c = _populate(wh, settings)
    needles = [str(c.loc[3, "email"]), str(c.loc[3, "name"])]
    assert _text_hits(wh, needles)
    wh.close()
    assert _file_hits(settings.data_dir, needles)  # outbox, raw store, landing, Data Docs
    monkeypatch.setenv("PROACTIVE_DATA_DIR", str(settings.data_dir))
    assert main(["erase", WHO]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["suppressed"]
    assert summary["files_deleted"] == 2  # the .eml and .html sent to the customer
    wh = Warehouse.connect(settings.resolved_warehouse_url)
    try:
        assert _text_hits(wh, needles) == []
        assert _file_hits(settings.data_dir, needles) == []
        # suppressed forever by hash: a re-import of the same address (any case) is never contacted
        assert is_suppressed(wh, needles[0].upper())
        assert wh.scalar("SELECT reason FROM suppressions WHERE customer_id = :c", {"c": WHO}) == "erased"
        # the pseudonymous ledger stays (proof of what was sent and honoured); the other customer is untouched
        assert wh.scalar("SELECT state FROM send_ledger WHERE customer_id = :c", {"c": WHO}) == "accepted"
        other = str(c.loc[4, "email"])
        assert wh.scalar("SELECT email FROM customers WHERE customer_id = :c", {"c": OTHER}) == other
        assert other in (settings.outbox_dir / "accepted.jsonl").read_text()
        # the scrubbed landing file is still known as ingested: not loaded again
        landing = settings.data_dir / "landing" / "customers" / "2026-11-20.csv"
        digest = hashlib.sha256(landing.read_bytes()).hexdigest()
        assert wh.scalar("SELECT count(*) FROM ingest_log WHERE file_sha256 = :h", {"h": digest}) == 1
    finally:
        wh.close()


def test_erase_of_an_unknown_customer_is_a_user_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
    seed_warehouse(
        w := Warehouse.connect(settings.resolved_warehouse_url), make_customers(2), date(2026, 11, 23)
    )
    w.close()
    monkeypatch.setenv("PROACTIVE_DATA_DIR", str(settings.data_dir))
    assert main(["erase", "nobody"]) != 0
    assert "no customer 'nobody'" in capsys.readouterr().err
