"""The daily budget holds per day, not per run: reruns of a day (retry, backfill, second scheduler) decide nothing
beyond it, sequentially on both backends and concurrently on PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime

from proactive_ml.outreach.run import run_outreach
from proactive_ml.settings import Settings
from proactive_ml.sim.outreach_samples import make_customers, seed_warehouse
from proactive_ml.sim.sink import start_sink_in_thread
from proactive_ml.warehouse import Warehouse

BUDGET = 30
DAY = date(2026, 11, 24)


def _seed(wh: Warehouse) -> None:
    c = make_customers(300, seed=11, consent_share=1.0, zones=["UTC"])
    c["signup_date"] = date(2026, 10, 20)  # new accounts without usage: all match onboarding_stall (email)
    c["plan"], c["monthly_revenue"] = "pro", 200.0  # no high-value account: no CS task
    seed_warehouse(wh, c, date(2026, 11, 23), seed=11, low=0.5)


def _day_counts(wh: Warehouse) -> dict[str, int]:
    d = wh.query("SELECT action, count(*) AS n FROM decisions WHERE as_of = :d GROUP BY action", {"d": DAY})
    return {str(a): int(n) for a, n in zip(d["action"], d["n"], strict=True)}


def _sent(settings: Settings) -> list[str]:
    path = settings.outbox_dir / "accepted.jsonl"
    return [json.loads(x)["send_key"] for x in path.read_text().splitlines() if x] if path.exists() else []


def test_three_reruns_of_a_day_stay_within_the_budget(wh: Warehouse, settings: Settings) -> None:
    _seed(wh)
    host, stop, _ = start_sink_in_thread(settings)
    s = settings.model_copy(update={"sendgrid_host": host, "daily_budget": BUDGET})
    try:
        outs = [run_outreach(wh, s, datetime(2026, 11, 24, h), workers=1) for h in (14, 15, 18)]
    finally:
        stop()
    counts = _day_counts(wh)
    assert counts == {"email": BUDGET}  # the first run used the day's budget ...
    # ... the reruns add nothing
    assert outs[1]["recorded"]["decisions"] == outs[2]["recorded"]["decisions"] == 0
    assert outs[1]["over_day_budget"] > 0
    sent = _sent(s)
    assert 0 < len(sent) <= BUDGET
    assert len(sent) == len(set(sent))


def test_concurrent_runs_of_a_day_stay_within_the_budget(pg_url: str, settings: Settings) -> None:
    w = Warehouse.connect(pg_url)
    _seed(w)
    w.close()
    host, stop, _ = start_sink_in_thread(settings)
    s = settings.model_copy(update={"sendgrid_host": host, "daily_budget": BUDGET})
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def one(hour: int) -> None:
        conn = Warehouse.connect(pg_url)
        try:
            barrier.wait()
            run_outreach(conn, s, datetime(2026, 11, 24, hour), workers=1)
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=one, args=(h,)) for h in (14, 15, 16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    stop()
    assert not errors, errors
    w = Warehouse.connect(pg_url)
    counts = _day_counts(w)
    w.close()
    assert counts == {"email": BUDGET}
    sent = _sent(s)
    assert 0 < len(sent) <= BUDGET
    assert len(sent) == len(set(sent))
