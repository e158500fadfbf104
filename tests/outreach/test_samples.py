"""The outreach sample builders make a consistent warehouse."""

from __future__ import annotations

from datetime import date, datetime

from proactive_ml.outreach import ledger
from proactive_ml.sim.outreach_samples import (
    ZONES,
    make_customers,
    plan_direct,
    seed_warehouse,
)
from proactive_ml.warehouse import Warehouse


def test_builders_make_a_consistent_warehouse(duck: Warehouse) -> None:
    c = make_customers(10, zones=ZONES)
    seed_warehouse(duck, c, date(2026, 11, 23))
    keys = plan_direct(duck, c, "renewal_risk", date(2026, 11, 24), datetime(2026, 11, 24, 12))
    assert duck.row_count("customers") == 10
    assert duck.row_count("scores") == 10
    assert ledger.ledger_counts(duck) == {"planned": 10}
    assert len(set(keys)) == 10
