"""Labels come from [cutoff, cutoff + horizon) only, for customers active at the cutoff."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from modeling_fixtures import at
from proactive_ml.labels import build_labels, treated_customers
from test_features_pit import _customer, _empty_raw

CUTOFF = date(2026, 5, 1)


def test_churn_and_need_windows(wh) -> None:
    _empty_raw(wh)
    c = at(CUTOFF)
    end = c + timedelta(days=30)
    cust = pd.DataFrame([
        _customer("at_start", date(2026, 1, 1), cancelled=c),                        # churn (window start)
        _customer("last_sec", date(2026, 1, 1), cancelled=end - timedelta(seconds=1)),  # churn
        _customer("at_end", date(2026, 1, 1), cancelled=end),                         # not churn (window end)
        _customer("before", date(2026, 1, 1), cancelled=c - timedelta(days=1)),       # not active: no row
        _customer("ticket", date(2026, 1, 1)),
        _customer("detractor", date(2026, 1, 1)),
        _customer("csat_low", date(2026, 1, 1)),
        _customer("passive", date(2026, 1, 1)),
        _customer("old_ticket", date(2026, 1, 1)),
    ])  # fmt: skip
    from proactive_ml.contract import DATASETS

    wh.insert_frame("customers", cust, DATASETS["customers"].column_names)
    tk = pd.DataFrame([
        ("t1", "ticket", c + timedelta(days=3), None, "low", "bug", "open"),
        ("t2", "old_ticket", c - timedelta(seconds=1), None, "high", "bug", "open"),
        ("t3", "passive", end, None, "high", "bug", "open"),
    ], columns=["ticket_id", "customer_id", "opened_at", "closed_at", "priority", "category", "status"])  # fmt: skip
    wh.insert_frame("tickets", tk)
    fb = pd.DataFrame([
        ("f1", "detractor", "NPS", c + timedelta(days=1), 6, None),
        ("f2", "passive", "NPS", c + timedelta(days=1), 7, None),
        ("f3", "csat_low", "CSAT", c + timedelta(days=29), 2, None),
        ("f4", "passive", "CSAT", c + timedelta(days=2), 3, None),
        ("f5", "ticket", "NPS", c - timedelta(days=1), 0, None),
    ], columns=["feedback_id", "customer_id", "survey_type", "ts", "score", "comment"])  # fmt: skip
    wh.insert_frame("feedback", fb)

    y = build_labels(wh, CUTOFF, horizon_days=30)
    assert "before" not in y.index and len(y) == 8
    churned = set(y.index[y["churn"] == 1])
    needy = set(y.index[y["need"] == 1])
    assert churned == {"at_start", "last_sec"}
    assert needy == {"ticket", "detractor", "csat_low"}
    assert build_labels(wh, CUTOFF, horizon_days=1)["churn"].sum() == 1  # only the one at the window start


def test_treated_customers_are_found_around_the_cutoff(wh) -> None:
    assert treated_customers(wh, CUTOFF) == set()  # no decisions table yet
    wh.execute("CREATE TABLE decisions (send_key TEXT PRIMARY KEY, as_of DATE, customer_id TEXT, playbook TEXT, "
               "action TEXT, arm TEXT)")  # fmt: skip
    dec = pd.DataFrame({
        "send_key": ["a", "b", "c", "d"], "customer_id": ["t_in", "h_in", "t_old", "t_late"],
        "as_of": [CUTOFF + timedelta(days=3), CUTOFF, CUTOFF - timedelta(days=31), CUTOFF + timedelta(days=30)],
        "playbook": "p", "action": "email", "arm": ["treatment", "holdout", "treatment", "treatment"],
    })  # fmt: skip
    wh.insert_frame("decisions", dec)
    assert treated_customers(wh, CUTOFF, 30) == {"t_in"}
