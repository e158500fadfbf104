"""Credit for people's work against their own randomized holdout; success stories tied to what earned them."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from proactive_ml.measurement.credit import (
    BOARD_COLUMNS,
    credit_board,
    credit_table,
    stories_table,
    success_stories,
)
from proactive_ml.warehouse import Warehouse

AS_OF = date(2026, 6, 30)


def _world(effects: dict[str, float], n: int, seed: int = 0) -> pd.DataFrame:
    """Decisions of a simulated team: each person's customers split 80/20 into worked and held out at random.

    Base retention 0.80; a worked customer's retention rises by the person's true effect.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for person, eff in effects.items():
        for i in range(n):
            treated = rng.random() < 0.8
            kept = rng.random() < 0.80 + (eff if treated else 0.0)
            rows.append(
                {
                    "send_key": f"{person}-{i}",
                    "as_of": date(2026, 3, 1),
                    "customer_id": f"{person}-c{i}",
                    "arm": "treatment" if treated else "holdout",
                    "assignee": person,
                    "cancelled_at": pd.NaT if kept else pd.Timestamp("2026-03-10"),
                }
            )
    return pd.DataFrame(rows)


def test_board_ranks_people_by_what_their_work_changed_not_by_activity():
    effects = {"ann": 0.15, "bob": 0.05, "cem": 0.0, "dee": -0.10}
    rows = _world(effects, n=1500)
    busy = pd.Series({"dee": 400, "cem": 300, "bob": 200, "ann": 1})  # dee closes the most tasks
    people = pd.DataFrame({"username": list(effects), "display_name": [p.title() for p in effects]})
    board = credit_table(rows, AS_OF, people, busy)
    assert list(board.columns) == BOARD_COLUMNS
    assert list(board["person"]) == ["ann", "bob", "cem", "dee"]
    assert board.loc[0, "display_name"] == "Ann"
    assert board.loc[3, "tasks_closed"] == 400
    ann = board.iloc[0]
    assert ann["low"] < 0.15 < ann["high"]
    assert ann["worked"] + ann["held_out"] == 1500
    assert ann["credited_saves"] == pytest.approx(ann["shrunk_effect"] * ann["worked"])


def test_small_groups_are_pulled_toward_the_team_and_outcomes_not_known_yet_are_left_out():
    rows = _world({"ann": 0.1, "bob": 0.1, "cem": 0.1}, n=600, seed=1)
    lucky = pd.DataFrame(  # four worked customers all kept, one held out lost: +100 points on five customers
        {
            "send_key": [f"z{i}" for i in range(5)],
            "as_of": [date(2026, 3, 1)] * 5,
            "customer_id": [f"z-c{i}" for i in range(5)],
            "arm": ["treatment"] * 4 + ["holdout"],
            "assignee": "zed",
            "cancelled_at": [pd.NaT] * 4 + [pd.Timestamp("2026-03-05")],
        }
    )
    recent = lucky.assign(send_key="new", customer_id="new-c", as_of=date(2026, 6, 25))
    board = credit_table(pd.concat([rows, lucky, recent.head(1)]), AS_OF).set_index("person")
    assert board.loc["zed", "effect"] == pytest.approx(1.0)
    assert board.loc["zed", "shrunk_effect"] < 0.5  # not the top of the board on five customers
    assert board.loc["zed", "worked"] == 4  # the decision of 2026-06-25 has no 30-day outcome yet
    assert board["credited_saves"].idxmax() != "zed"


def test_stories_are_tied_to_the_task_that_earned_them_newest_first():
    tasks = pd.DataFrame(
        {
            "task_id": ["t1", "t2"],
            "customer_id": ["c1", "c2"],
            "playbook": ["high_value_cs_task"] * 2,
            "assignee": ["ann", "bob"],
            "display_name": ["Ann", "Bob"],
            "outcome": ["reached_stay", "not_reached"],
            "notes": ["Walked them through the export", None],
            "closed_at": [pd.Timestamp("2026-06-01"), pd.Timestamp("2026-06-02")],
        }
    )
    ratings = pd.DataFrame(
        {
            "send_key": ["t2", "e9"],
            "customer_id": ["c2", "c9"],
            "playbook": ["high_value_cs_task", "usage_drop"],
            "score": [5, 2],
            "rated_at": [pd.Timestamp("2026-06-03"), pd.Timestamp("2026-06-04")],
        }
    )
    replies = pd.DataFrame(
        {
            "send_key": ["e1", "e2", "e3"],
            "customer_id": ["c5", "c6", "c7"],
            "playbook": ["usage_drop"] * 3,
            "body_text": ["Thanks, that was helpful!", "Please stop", "I am out of office"],
            "is_auto": [False, False, True],
            "is_stop": [False, True, False],
            "received_at": [pd.Timestamp("2026-05-30")] * 3,
        }
    )
    stories = stories_table(ratings, replies, tasks)
    assert [s["kind"] for s in stories] == ["rating", "outcome", "reply"]
    assert stories[0]["person"] == "bob"
    assert stories[0]["text"] == "rated 5 of 5"
    assert stories[1]["note"] == "Walked them through the export"
    assert stories[1]["display_name"] == "Ann"
    assert stories[2]["person"] is None
    assert "helpful" in stories[2]["text"]


def test_board_and_stories_read_the_warehouse(wh: Warehouse):
    now = datetime(2026, 6, 1, 12)
    wh.execute(
        "INSERT INTO desk_people VALUES ('ann', 'Ann Lee', 'agent', 'north', 'x', TRUE, :t)", {"t": now}
    )
    for i, (arm, cancelled) in enumerate(
        [("treatment", None), ("treatment", None), ("holdout", "2026-03-09")]
    ):
        wh.execute(
            "INSERT INTO decisions (send_key, as_of, customer_id, playbook, action, arm, decided_at, assignee) "
            "VALUES (:k, DATE '2026-03-01', :c, 'high_value_cs_task', 'cs_task', :a, :t, 'ann')",
            {"k": f"k{i}", "c": f"c{i}", "a": arm, "t": now},
        )
        wh.execute(
            "INSERT INTO customers (customer_id, email, signup_date, cancelled_at) VALUES (:c, :e, DATE '2025-01-01', "
            "CAST(:x AS TIMESTAMP))",
            {"c": f"c{i}", "e": f"c{i}@example.com", "x": cancelled},
        )
    wh.execute(
        "INSERT INTO cs_tasks (task_id, as_of, customer_id, playbook, guidance, state, created_at, assignee, "
        "outcome, notes, closed_at, closed_by) VALUES ('k0', DATE '2026-03-01', 'c0', 'high_value_cs_task', 'g', "
        "'done', :t, 'ann', 'reached_stay', 'Fixed their SSO', :t, 'ann')",
        {"t": datetime(2026, 3, 2)},
    )
    per_playbook = credit_board(wh, AS_OF, by="playbook")
    assert per_playbook.loc[0, ["person", "worked", "held_out", "tasks_closed"]].tolist() == [
        "high_value_cs_task",
        2,
        1,
        1,
    ]
    board = credit_board(wh, AS_OF)
    assert board.loc[0, ["person", "display_name", "worked", "held_out", "tasks_closed"]].tolist() == [
        "ann",
        "Ann Lee",
        2,
        1,
        1,
    ]
    assert board.loc[0, "effect"] == pytest.approx(1.0)
    stories = success_stories(wh, AS_OF)
    assert [(s["kind"], s["note"], s["display_name"]) for s in stories] == [
        ("outcome", "Fixed their SSO", "Ann Lee")
    ]
    assert success_stories(wh, date(2026, 3, 1)) == []  # closed after that day
