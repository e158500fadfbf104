"""Ten outreach runs started at once against PostgreSQL: one email per ledger key, frequency cap never exceeded."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import date, datetime
from pathlib import Path

from proactive_ml.outreach.run import run_outreach
from proactive_ml.settings import Settings
from proactive_ml.sim.outreach_samples import ZONES, make_customers, seed_warehouse
from proactive_ml.sim.sink import start_sink_in_thread
from proactive_ml.warehouse import Warehouse


def test_ten_concurrent_runs(pg_url: str, settings: Settings, tmp_path: Path) -> None:
    wh = Warehouse.connect(pg_url)
    c = make_customers(600, seed=3, zones=["UTC"])
    c["signup_date"] = date(2026, 10, 20)  # new accounts: onboarding playbook
    seed_warehouse(wh, c, date(2026, 11, 23), low=0.3)
    # every customer also has an open, old ticket: two email playbooks compete for the same customers
    wh.insert_frame(
        "tickets",
        c[["customer_id"]].assign(
            ticket_id=c["customer_id"] + "-t",
            opened_at=datetime(2026, 11, 10),
            closed_at=None,
            priority="normal",
            category="bug",
            status="open",
        ),
    )
    wh.close()
    host, stop, ctl = start_sink_in_thread(settings)
    s = settings.model_copy(update={"sendgrid_host": host, "daily_budget": 10_000})
    results: list[dict] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(10)

    def one(i: int) -> None:
        w = Warehouse.connect(pg_url)
        try:
            barrier.wait()
            # two different days among the ten runs: different send keys, the cap must still hold
            as_of = datetime(2026, 11, 24, 14) if i % 2 else datetime(2026, 11, 25, 14)
            results.append(run_outreach(w, s, as_of, workers=2, batch_size=100))
        except BaseException as exc:
            errors.append(exc)
        finally:
            w.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    stop()
    assert not errors, errors
    lines = [json.loads(x) for x in (settings.outbox_dir / "accepted.jsonl").read_text().splitlines()]
    per_key = Counter(x["send_key"] for x in lines)
    assert lines
    assert max(per_key.values()) == 1
    per_person = Counter(x["to"] for x in lines)
    assert (
        max(per_person.values()) == 1
    )  # at most one proactive email per customer in 14 days, across playbooks
    wh = Warehouse.connect(pg_url)
    d = wh.query(
        "SELECT customer_id, count(*) AS n FROM decisions WHERE action = 'email' GROUP BY customer_id"
    )
    assert d["n"].max() == 1
    led = wh.query("SELECT state, count(*) AS n FROM send_ledger GROUP BY state")
    assert dict(zip(led["state"], led["n"], strict=True)) == {"accepted": len(lines)}
    assert wh.scalar("SELECT count(DISTINCT playbook) FROM decisions") >= 2
    wh.close()
    assert sum(r["sent"] for r in results) == len(lines)
    assert ctl.stats["pii_violations"] == 0
    assert ctl.stats["missing_unsubscribe_headers"] == 0
    assert ZONES  # (support module shared with the other outreach tests)
