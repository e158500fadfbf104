"""Point-in-time features: declared columns, hand-computed values, and the leakage proof on both backends."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from proactive_ml.contract import DATASETS
from proactive_ml.features.point_in_time import (
    attribute_reasons,
    build_features,
    categorical_features,
    feature_names,
    load_feature_specs,
)
from proactive_ml.sim.small_company import at, customer_row, load_raw_tables, make_raw_tables

CUTOFF = date(2026, 4, 15)


def test_features_are_exactly_the_declared_ones(duck) -> None:
    load_raw_tables(duck, make_raw_tables(60, 120, seed=1))
    X = build_features(duck, date(2026, 4, 1))
    assert list(X.columns) == feature_names()
    assert X.index.name == "customer_id"
    assert X.index.is_unique
    assert len(X) > 20
    for spec in load_feature_specs():
        assert spec.description
        assert spec.reason
        if spec.kind == "numeric":
            assert X[spec.name].dtype == np.float64, spec.name
    assert set(categorical_features()) == {"last_ticket_priority", "plan"}
    assert (
        X[
            [
                c
                for c in X.columns
                if c
                not in ("days_since_last_email", "last_nps", "nps_trend", "days_since_last_nps", "last_csat")
            ]
        ]
        .notna()
        .all()
        .all()
    )


def test_hand_computed_values_and_active_definition(wh) -> None:
    c = at(CUTOFF)
    cust = pd.DataFrame(
        [
            customer_row("a", date(2026, 1, 1)),
            customer_row("b", date(2026, 3, 1), cancelled=c),  # cancels exactly at the cutoff: still active
            customer_row(
                "gone", date(2026, 1, 1), cancelled=c - timedelta(seconds=1)
            ),  # cancelled before: not active
            customer_row("new", CUTOFF),  # signs up on the cutoff day: not active yet
        ]
    )
    wh.insert_frame("customers", cust, DATASETS["customers"].column_names)
    usage = pd.DataFrame(
        [
            ("a", c - timedelta(days=40), "login", 10),  # previous 30 days
            ("a", c - timedelta(days=35), "search", 10),  # previous 30 days
            ("a", c - timedelta(days=3), "login", 8),  # last 7 and 30 days
            ("a", c - timedelta(seconds=1), "report_export", 0),  # last second before the cutoff counts
            ("a", c, "login", 1000),  # at the cutoff: must not count
        ],
        columns=["customer_id", "ts", "feature", "quantity"],
    )
    wh.insert_frame("usage_events", usage)
    fb = pd.DataFrame(
        [
            ("f1", "a", "NPS", c - timedelta(days=50), 9, None),
            ("f2", "a", "NPS", c - timedelta(days=6), 3, "slow and buggy"),
            ("f3", "a", "CSAT", c - timedelta(days=2), 2, ""),
            ("f4", "a", "NPS", c + timedelta(days=1), 0, "later"),
        ],
        columns=["feedback_id", "customer_id", "survey_type", "ts", "score", "comment"],
    )
    wh.insert_frame("feedback", fb)
    tk = pd.DataFrame(
        [
            (
                "t1",
                "a",
                c - timedelta(days=20),
                c + timedelta(days=2),
                "urgent",
                "bug",
                "closed",
            ),  # open at cutoff
            ("t2", "a", c - timedelta(days=2), None, "high", "bug", "open"),
            ("t3", "a", c - timedelta(days=60), c - timedelta(days=50), "low", "billing", "closed"),
            ("t4", "b", c + timedelta(hours=1), None, "urgent", "bug", "open"),  # after the cutoff
        ],
        columns=["ticket_id", "customer_id", "opened_at", "closed_at", "priority", "category", "status"],
    )
    wh.insert_frame("tickets", tk)

    X = build_features(wh, CUTOFF)
    assert list(X.index) == ["a", "b"]
    a, b = X.loc["a"], X.loc["b"]
    assert a["usage_7d"] == 8
    assert a["usage_30d"] == 8
    assert a["usage_90d"] == 28
    assert a["usage_change_30d"] == (8 - 20) / 20
    assert a["active_days_30d"] == 2
    assert a["breadth_30d"] == 2
    assert abs(a["days_since_last_activity"]) < 0.001
    assert a["last_nps"] == 3
    assert a["nps_trend"] == -6
    assert round(a["days_since_last_nps"]) == 6
    assert a["last_csat"] == 2
    assert a["negative_comments_90d"] == 1
    assert a["feedback_90d"] == 3
    assert a["tickets_open"] == 2
    assert a["tickets_unresolved_7d"] == 1
    assert a["tickets_30d"] == 2
    assert a["last_ticket_priority"] == "high"
    assert a["tenure_days"] == (CUTOFF - date(2026, 1, 1)).days
    assert a["plan"] == "pro"
    assert a["emails_90d"] == 0
    assert np.isnan(a["days_since_last_email"])
    assert b["usage_30d"] == 0
    assert b["tickets_open"] == 0
    assert b["last_ticket_priority"] == "none"
    assert b["days_since_last_activity"] == b["tenure_days"]

    dec = pd.DataFrame(
        {
            "send_key": ["k1", "k2", "k3", "k4"],
            "customer_id": ["a", "a", "a", "a"],
            "as_of": [
                CUTOFF - timedelta(days=10),
                CUTOFF - timedelta(days=100),
                CUTOFF - timedelta(days=5),
                CUTOFF,
            ],
            "playbook": "p",
            "action": "email",
            "arm": ["treatment", "treatment", "holdout", "treatment"],
            "decided_at": c,
        }
    )
    wh.insert_frame("decisions", dec)
    X2 = build_features(wh, CUTOFF)
    assert X2.loc["a", "emails_90d"] == 1
    assert X2.loc["a", "days_since_last_email"] == 10
    assert X2.loc["b", "emails_90d"] == 0


def _strip_future(wh, cutoff: date) -> None:  # type: ignore[no-untyped-def]
    """Delete every row dated at or after the cutoff and scramble every later value of older rows."""
    p = {"c": at(cutoff)}
    wh.execute("DELETE FROM usage_events WHERE ts >= :c", p)
    wh.execute("DELETE FROM feedback WHERE ts >= :c", p)
    wh.execute("DELETE FROM tickets WHERE opened_at >= :c", p)
    wh.execute("DELETE FROM customers WHERE signup_date >= :d", {"d": cutoff})
    wh.execute("UPDATE tickets SET closed_at = NULL, status = 'open' WHERE closed_at >= :c", p)
    wh.execute("UPDATE tickets SET status = 'solved' WHERE closed_at < :c", p)
    wh.execute("UPDATE customers SET cancelled_at = NULL WHERE cancelled_at >= :c", p)


def _add_future(wh, cutoff: date) -> None:  # type: ignore[no-untyped-def]
    """Add loud rows at and after the cutoff for existing customers, and a customer signing up at the cutoff."""
    c = at(cutoff)
    ids = wh.query("SELECT customer_id FROM customers ORDER BY customer_id")["customer_id"].tolist()
    rows = [(cid, c + timedelta(hours=h), "login", 999) for cid in ids for h in (0, 5, 24 * 40)]
    wh.insert_frame("usage_events", pd.DataFrame(rows, columns=["customer_id", "ts", "feature", "quantity"]))
    fb = [(f"fut{i}", cid, "NPS", c, 0, "angry") for i, cid in enumerate(ids)]
    wh.insert_frame(
        "feedback",
        pd.DataFrame(fb, columns=["feedback_id", "customer_id", "survey_type", "ts", "score", "comment"]),
    )
    tk = [(f"fut{i}", cid, c, None, "urgent", "bug", "open") for i, cid in enumerate(ids)]
    wh.insert_frame(
        "tickets",
        pd.DataFrame(
            tk,
            columns=["ticket_id", "customer_id", "opened_at", "closed_at", "priority", "category", "status"],
        ),
    )
    wh.insert_frame(
        "customers", pd.DataFrame([customer_row("zz_future", cutoff)]), DATASETS["customers"].column_names
    )
    wh.execute(
        "UPDATE customers SET cancelled_at = :c WHERE cancelled_at IS NULL", {"c": c + timedelta(days=3)}
    )


def test_no_feature_reads_data_at_or_after_the_cutoff(wh) -> None:
    """The leakage proof: removing, rewriting or adding anything dated >= cutoff leaves every feature unchanged."""
    load_raw_tables(wh, make_raw_tables(70, 150, seed=3))
    cutoff = date(2026, 4, 20)
    before = build_features(wh, cutoff)
    assert len(before) > 30
    assert before["usage_30d"].sum() > 0
    assert before["tickets_open"].sum() > 0

    _strip_future(wh, cutoff)
    stripped = build_features(wh, cutoff)
    pd.testing.assert_frame_equal(before, stripped)

    _add_future(wh, cutoff)
    added = build_features(wh, cutoff)
    pd.testing.assert_frame_equal(before, added)

    # the test has power: one event a second before the cutoff does change the features
    wh.insert_frame(
        "usage_events",
        pd.DataFrame(
            [(before.index[0], at(cutoff) - timedelta(seconds=1), "login", 5)],
            columns=["customer_id", "ts", "feature", "quantity"],
        ),
    )
    changed = build_features(wh, cutoff)
    assert changed.loc[before.index[0], "usage_7d"] == before.loc[before.index[0], "usage_7d"] + 5


class _Defs:
    """A warehouse stand-in that holds only the attribute definitions (the one table read)."""

    def query(self, sql: str) -> pd.DataFrame:
        assert "customer_attribute_defs" in sql
        return pd.DataFrame(
            {
                "name": ["region", "tenure_days", "rating", "age_band"],
                "reason": ["shops in the {value} region", "member for {value:.0f} days", None, ""],
            }
        )


def test_attribute_reasons_follow_the_feature_columns_renamed_or_not() -> None:
    columns = ["region", "tenure_days", "attr_tenure_days", "rating", "age_band", "usage_14d"]
    assert attribute_reasons(_Defs(), columns) == {
        "region": "shops in the {value} region",
        "attr_tenure_days": "member for {value:.0f} days",  # the attribute, not the product's own feature
    }
    assert attribute_reasons(_Defs(), ["usage_14d"]) == {}
