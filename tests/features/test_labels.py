"""Labels come from [cutoff, cutoff + horizon) only, for customers active at the cutoff."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from proactive_ml.errors import UserError
from proactive_ml.features.labels import (
    build_labels,
    choose_inactivity_window,
    inactivity_labels,
    max_gaps,
    treated_customers,
)
from proactive_ml.features.outcomes import NEED_EVENTS_SQL, NeedEvents
from proactive_ml.modeling.config import label_spec
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

    # the need event definition is declared, not hard-coded: narrower surveys, a category filter, usage events
    strict = NeedEvents(nps_max=5, csat_max=None, ticket_categories=("billing",))
    assert set(build_labels(wh, CUTOFF, 30, strict).query("need == 1").index) == set()
    _events(wh, [("passive", CUTOFF + timedelta(days=4))])
    usage = NeedEvents(tickets=False, nps_max=None, csat_max=None, usage_features=("purchase",))
    assert set(build_labels(wh, CUTOFF, 30, usage).query("need == 1").index) == {"passive"}
    assert set(build_labels(wh, CUTOFF, 30, NeedEvents(nps_max=7)).query("need == 1").index) == {
        "ticket",
        "detractor",
        "csat_low",
        "passive",
    }


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


def _events(wh, rows: list[tuple[str, date]]) -> None:
    ev = pd.DataFrame(
        [(cid, at(d), "purchase", 1, 10.0) for cid, d in rows],
        columns=["customer_id", "ts", "feature", "quantity", "value"],
    )
    wh.insert_frame("usage_events", ev)


def test_subscription_label_is_the_default_churn(wh) -> None:
    from proactive_ml.contract import DATASETS
    from proactive_ml.modeling.config import label_spec

    cust = pd.DataFrame(
        [
            customer_row("gone", date(2026, 1, 1), cancelled=at(CUTOFF + timedelta(days=5))),
            customer_row("stays", date(2026, 1, 1)),
        ]
    )
    wh.insert_frame("customers", cust, DATASETS["customers"].column_names)
    y = build_labels(wh, CUTOFF, 30)
    assert y["churn"].to_dict() == {"gone": 1, "stays": 0}
    assert label_spec("churn").definition == "subscription"
    assert label_spec("churn", definition="inactivity", horizon="auto").horizon == "auto"


def test_inactivity_label_counts_lapsed_apart_and_false_churn(wh) -> None:
    from proactive_ml.contract import DATASETS

    ids = ["buys_again", "silent", "back_later", "lapsed"]
    cust = pd.DataFrame([customer_row(i, date(2025, 1, 1)) for i in ids])
    wh.insert_frame("customers", cust, DATASETS["customers"].column_names)
    d = CUTOFF
    _events(
        wh,
        [
            ("buys_again", d - timedelta(days=10)),
            ("buys_again", d + timedelta(days=20)),  # inside the 30-day window: not churned
            ("silent", d - timedelta(days=5)),  # nothing after: churned
            ("back_later", d - timedelta(days=1)),
            ("back_later", d + timedelta(days=45)),  # after the window: churned, then came back (false churn)
            ("lapsed", d - timedelta(days=200)),  # no event in the 90 days before: lapsed, not labelled
        ],
    )
    y = inactivity_labels(wh, CUTOFF, 30, active_window_days=90, data_end=d + timedelta(days=60))
    assert y.attrs["n_lapsed"] == 1
    assert "lapsed" not in y.index
    assert y["churn"].to_dict() == {"back_later": 1, "buys_again": 0, "silent": 1}
    assert y["came_back"].to_dict() == {"back_later": 1, "buys_again": 0, "silent": 0}


def test_auto_window_is_the_smallest_with_under_5pct_returns() -> None:
    # 100 customers: their longest silence before coming back is 1..100 days (one each)
    gaps = np.arange(1, 101, dtype=float)
    n, curve = choose_inactivity_window(gaps, threshold=0.05, max_days=365)
    assert curve.loc[95] == pytest.approx(0.05)  # 5 customers came back after more than 95 days
    assert curve.loc[96] == pytest.approx(0.04)
    assert n == 96
    # one-event customers (gap 0) never come back: a short window suffices
    n2, _ = choose_inactivity_window(np.r_[np.zeros(96), [50, 60, 70, 80]], 0.05, 365)
    assert n2 == 1
    assert choose_inactivity_window(np.full(10, 500.0), 0.05, 365)[0] == 365
    # with trailing silences: among the customers whose silence reached n days, the share who came back
    gaps3 = np.array([10.0, 10.0, 40.0, 0.0])
    trailing3 = np.array([1.0, 1.0, 1.0, 100.0])  # the last customer has been silent for 100 days
    curve3 = choose_inactivity_window(gaps3, 0.05, 365, trailing3)[1]
    assert curve3.loc[5] == pytest.approx(3 / 4)
    assert curve3.loc[20] == pytest.approx(1 / 2)
    assert choose_inactivity_window(gaps3, 0.05, 365, trailing3)[0] == 40


def test_max_gaps_from_consecutive_events(wh) -> None:
    d = CUTOFF
    _events(wh, [("a", d), ("a", d + timedelta(days=3)), ("a", d + timedelta(days=40)), ("b", d)])
    gaps, trailing = max_gaps(wh, d + timedelta(days=100))
    assert sorted(zip(gaps.tolist(), trailing.tolist(), strict=True)) == [(0.0, 100.0), (37.0, 60.0)]


def test_need_events_are_declared_in_labels_yaml(tmp_path) -> None:
    assert NeedEvents().sql() == NEED_EVENTS_SQL  # the house default is the declared default
    path = tmp_path / "labels.yaml"
    path.write_text(
        "need: {definition: need, horizon: 14, events: {tickets: false, usage_features: [call]}}\n"
    )
    spec = label_spec("need", path)
    assert spec.events == NeedEvents(tickets=False, usage_features=("call",))
    assert "a usage event of call" in spec.describe()
    path.write_text("need: {definition: need, events: {ticket: true}}\n")
    with pytest.raises(UserError, match=r"events: unknown key\(s\) \['ticket'\]"):
        label_spec("need", path)
    path.write_text("churn: {definition: subscription, events: {tickets: true}}\n")
    with pytest.raises(UserError, match="only applies to the need label"):
        label_spec("churn", path)
