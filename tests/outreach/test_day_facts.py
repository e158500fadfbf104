"""DayFacts: one read of the facts for every customer due, the same facts as a read per batch."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd

from proactive_ml.identity import send_key
from proactive_ml.outreach.facts import DayFacts, load_facts
from proactive_ml.sim.content_world import content_world
from proactive_ml.sim.small_company import at, end_date, load_raw_tables
from proactive_ml.warehouse import Warehouse

AS_OF = at(end_date(120))


def _ledger(ids: list[str], send_at: pd.Timestamp, state: str = "planned") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "send_key": [send_key(c, "onboarding_stall", AS_OF.date()) for c in ids],
            "customer_id": ids,
            "playbook": "onboarding_stall",
            "window_start": AS_OF.date(),
            "state": state,
            "attempts": 0,
            "created_at": AS_OF,
            "updated_at": AS_OF,
            "send_at": send_at,
        }
    )


def test_day_facts_reads_every_due_customer_at_once_and_equals_load_facts(tmp_path: Path) -> None:
    tables = content_world(n_customers=30)
    with Warehouse.connect(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        load_raw_tables(wh, tables)
        ids = tables["customers"]["customer_id"].astype(str).tolist()
        wh.insert_frame("send_ledger", _ledger(ids[:20], pd.Timestamp(AS_OF)))
        wh.insert_frame("send_ledger", _ledger(ids[20:25], pd.Timestamp(AS_OF + timedelta(hours=9))))
        day = DayFacts(wh, AS_OF)
        assert day.of([]) == {}
        assert not day.read  # nothing asked, nothing read
        assert day.of(ids[:5]) == load_facts(wh, ids[:5], AS_OF)
        assert set(ids[:20]) <= day.read  # every due customer read with the first batch
        assert not set(ids[20:25]) & day.read  # not due yet: not read
        assert day.of(ids[18:28]) == load_facts(wh, ids[18:28], AS_OF)  # read when asked for
        assert day.of(["nobody"]) == {}  # no customer row, no facts (as load_facts)
