"""Labels come from [cutoff, cutoff + horizon) only, for customers active at the cutoff."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from proactive_ml.features.labels import build_labels, treated_customers
from proactive_ml.sim.small_company import at, customer_row

CUTOFF = date(2026, 5, 1)


def test_churn_and_need_windows(wh) -> None:
    c = at(CUTOFF)
    end = c + timedelta(days=30)
    cust = pd.DataFrame(
        [
            customer_row("at_start", date(2026, 1, 1), cancelled=c),  # churn (window start)
            customer_row("last_sec", date(2026, 1, 1), cancelled=end - timedelta(seconds=1)),  # churn
            customer_row("at_end", date(2026, 1, 1), cancelled=end),  # not churn (window end)
            customer_row("before", date(2026, 1, 1), cancelled=c - timedelta(days=1)),  # not active: no row
            customer_row("ticket", date(2026, 1, 1)),
            customer_row("detractor", date(2026, 1, 1)),
            customer_row("csat_low", date(2026, 1, 1)),
            customer_row("passive", date(2026, 1, 1)),
            customer_row("old_ticket", date(2026, 1, 1)),
        ]
    )
    from proactive_ml.contract import DATASETS

    wh.insert_frame("customers", cust, DATASETS["customers"].column_names)
    tk = pd.DataFrame(
        [
            ("t1", "ticket", c + timedelta(days=3), None, "low", "bug", "open"),
            ("t2", "old_ticket", c - timedelta(seconds=1), None, "high", "bug", "open"),
            ("t3", "passive", end, None, "high", "bug", "open"),
        ],
        columns=["ticket_id", "customer_id", "opened_at", "closed_at", "priority", "category", "status"],
    )
    wh.insert_frame("tickets", tk)
    fb = pd.DataFrame(
        [
            ("f1", "detractor", "NPS", c + timedelta(days=1), 6, None),
            ("f2", "passive", "NPS", c + timedelta(days=1), 7, None),
            ("f3", "csat_low", "CSAT", c + timedelta(days=29), 2, None),
            ("f4", "passive", "CSAT", c + timedelta(days=2), 3, None),
            ("f5", "ticket", "NPS", c - timedelta(days=1), 0, None),
        ],
        columns=["feedback_id", "customer_id", "survey_type", "ts", "score", "comment"],
    )
    wh.insert_frame("feedback", fb)

    y = build_labels(wh, CUTOFF, horizon_days=30)
    assert "before" not in y.index
    assert len(y) == 8
    churned = set(y.index[y["churn"] == 1])
    needy = set(y.index[y["need"] == 1])
    assert churned == {"at_start", "last_sec"}
    assert needy == {"ticket", "detractor", "csat_low"}
    assert build_labels(wh, CUTOFF, horizon_days=1)["churn"].sum() == 1  # only the one at the window start


def test_treated_customers_are_found_around_the_cutoff(wh) -> None:
    assert treated_customers(wh, CUTOFF) == set()  # no decisions yet
    dec = pd.DataFrame(
        {
            "send_key": ["a", "b", "c", "d"],
            "customer_id": ["t_in", "h_in", "t_old", "t_late"],
            "as_of": [
                CUTOFF + timedelta(days=3),
                CUTOFF,
                CUTOFF - timedelta(days=31),
                CUTOFF + timedelta(days=30),
            ],
            "playbook": "p",
            "action": "email",
            "arm": ["treatment", "holdout", "treatment", "treatment"],
            "decided_at": at(CUTOFF),
        }
    )
    wh.insert_frame("decisions", dec)
    assert treated_customers(wh, CUTOFF, 30) == {"t_in"}
