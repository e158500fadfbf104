"""Each outcome on a few rows: need, retained at a horizon, treated or held out (pandas and SQL agree)."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from proactive_ml.features import outcomes
from proactive_ml.warehouse import Warehouse

D = pd.Timestamp("2026-05-01")


def _decisions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "send_key": ["k3", "k1", "k2", "k4", "k5"],
            "customer_id": ["a", "a", "b", "c", "d"],
            "decided": [D + pd.Timedelta(days=5), D, D, D, D],
            "arm": ["treatment", "treatment", "holdout", "none", "treatment"],
        }
    )


def test_randomized_arms_treatment_indicator_and_first_decision() -> None:
    d = outcomes.randomized(_decisions())
    assert d["send_key"].tolist() == ["k3", "k1", "k2", "k5"]  # arm "none" is no comparison
    assert outcomes.is_treated(d["arm"]).tolist() == [1, 1, 0, 1]
    assert outcomes.first_per_customer(d)["send_key"].tolist() == ["k1", "k2", "k5"]


def test_retained_at_the_horizon_and_only_once_the_window_ended() -> None:
    start = pd.Series([D, D, D, D])
    cancelled = pd.Series([None, D + pd.Timedelta(days=30), D + pd.Timedelta(days=29, hours=23), D])
    assert outcomes.retained(start, cancelled, 30).tolist() == [1.0, 1.0, 0.0, 0.0]  # at the end: still kept
    assert outcomes.window_ended(start, 30, date(2026, 5, 31)).all()
    assert not outcomes.window_ended(start, 30, datetime(2026, 5, 30, 23, 59)).any()
    early = outcomes.retained_known(start, cancelled, 30, date(2026, 5, 30))
    assert early.isna().all()
    assert outcomes.retained_known(start, cancelled, 30, date(2026, 6, 1)).tolist() == [1.0, 1.0, 0.0, 0.0]


def test_need_within_the_window_from_tickets_or_detractors() -> None:
    starts = pd.DataFrame(
        {"customer_id": ["a", "b", "c", "d", "e"], "decided": [D] * 5}, index=[10, 11, 12, 13, 14]
    )
    events = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "d"],
            "ts": [
                D,  # at the start: counts
                D + pd.Timedelta(days=30),  # at the end: does not
                D - pd.Timedelta(seconds=1),  # before: does not
                D + pd.Timedelta(days=29),  # inside: counts (once, although twice)
                D + pd.Timedelta(days=2),
            ],
        }
    )
    need = outcomes.need_within(starts, events, 30)
    assert need.index.tolist() == [10, 11, 12, 13, 14]
    assert need.tolist() == [1.0, 0.0, 0.0, 1.0, 0.0]
    assert outcomes.need_within(starts, events.iloc[:0], 30).tolist() == [0.0] * 5


def test_need_sql_finds_tickets_and_detractor_answers_in_the_window(wh: Warehouse) -> None:
    t = D.to_pydatetime()
    wh.insert_frame(
        "tickets",
        pd.DataFrame(
            {
                "ticket_id": ["t1", "t2"],
                "customer_id": ["ticket", "late_ticket"],
                "opened_at": [t + pd.Timedelta(days=1), t + pd.Timedelta(days=30)],
            }
        ),
    )
    wh.insert_frame(
        "feedback",
        pd.DataFrame(
            {
                "feedback_id": ["f1", "f2", "f3", "f4", "f5"],
                "customer_id": ["nps6", "nps7", "csat2", "csat3", "old_nps0"],
                "survey_type": ["NPS", "NPS", "CSAT", "CSAT", "NPS"],
                "ts": [t, t, t + pd.Timedelta(days=29), t, t - pd.Timedelta(days=1)],
                "score": np.array([6, 7, 2, 3, 0], dtype="int64"),
            }
        ),
    )
    events = wh.query(outcomes.NEED_EVENTS_SQL)
    assert set(events["customer_id"]) == {"ticket", "late_ticket", "nps6", "csat2", "old_nps0"}
    window = {"cutoff_ts": t, "end_ts": t + pd.Timedelta(days=30)}
    assert set(wh.query(outcomes.NEED_IN_WINDOW_SQL, window)["customer_id"]) == {"ticket", "nps6", "csat2"}
    # the pandas definition over the same events agrees with the SQL one
    starts = pd.DataFrame({"customer_id": sorted(set(events["customer_id"]) | {"nobody"}), "decided": D})
    need = outcomes.need_within(starts, events, 30)
    assert set(starts.loc[need == 1.0, "customer_id"]) == {"ticket", "nps6", "csat2"}


def test_treated_in_window_sql_counts_the_treatment_arm_only(wh: Warehouse) -> None:
    wh.insert_frame(
        "decisions",
        pd.DataFrame(
            {
                "send_key": ["a", "b", "c"],
                "as_of": [date(2026, 5, 1), date(2026, 5, 2), date(2026, 6, 1)],
                "customer_id": ["t_in", "h_in", "t_late"],
                "playbook": "p",
                "action": "email",
                "arm": ["treatment", "holdout", "treatment"],
                "decided_at": datetime(2026, 5, 1),
            }
        ),
    )
    got = wh.query(
        outcomes.TREATED_IN_WINDOW_SQL, {"start_date": date(2026, 5, 1), "end_date": date(2026, 6, 1)}
    )
    assert set(got["customer_id"]) == {"t_in"}
