"""The report's board and stories: credited against each person's holdout; quoted text leaves without PII."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from proactive_ml.measurement.recognition import (
    board_table,
    difference_words,
    mask_story_text,
    recognition_html,
    render_recognition,
)
from proactive_ml.measurement.report import _table


def test_story_text_loses_names_addresses_links_phones_and_ids() -> None:
    text = (
        "Thanks Anna Schmidt! Write to anna.schmidt@corp.example or call +49 30 1234 5678, "
        "see https://corp.example/x. Account c0001234, ref sk_9f8e7d6c5b4a, order 88812345."
    )
    out = mask_story_text(text, ["Anna Schmidt"])
    for gone in (
        "Anna",
        "Schmidt",
        "anna.schmidt",
        "corp.example",
        "1234 5678",
        "c0001234",
        "sk_9f8e",
        "88812345",
    ):
        assert gone not in out, gone
    assert out.startswith("Thanks [name]!")
    assert "[id]" in out


def test_difference_in_words() -> None:
    assert difference_words(0.041, 0.01, 0.08) == "+4.1 pts (95%: +1.0 to +8.0), a measured win"
    assert difference_words(0.02, -0.01, 0.05).endswith("cannot tell yet")
    assert difference_words(-0.05, -0.09, -0.01).endswith("fewer stayed")
    assert difference_words(float("nan"), float("nan"), float("nan")) == "not measurable yet"


def test_render_escapes_html_in_names_quotes_and_notes() -> None:
    board = pd.DataFrame(
        {
            "person": ["x"],
            "display_name": ["<b>Eve</b>"],
            "worked": [10],
            "held_out": [3],
            "retained_worked": [0.9],
            "retained_held": [0.67],
            "effect": [0.23],
            "low": [-0.1],
            "high": [0.5],
            "shrunk_effect": [0.1],
            "credited_saves": [1.0],
            "tasks_closed": [9],
        }
    )
    story = {"display_name": "<b>Eve</b>", "kind": "reply", "text": "<script>x</script>", "note": "<i>n</i>"}
    page = render_recognition(board, [{**story, "playbook": "p", "at": pd.Timestamp("2026-03-01")}], _table)
    assert "<script>" not in page
    assert "<b>Eve</b>" not in page
    assert "&lt;b&gt;Eve&lt;/b&gt;" in page
    assert list(board_table(board).columns)[0] == "Person"


def test_report_section_from_the_warehouse(wh) -> None:
    rng = np.random.default_rng(0)
    n = 120
    ids = [f"c{i:07d}" for i in range(n)]
    cancelled = [pd.NaT if rng.random() < 0.8 else datetime(2026, 1, 20) for _ in range(n)]
    wh.insert_frame(
        "customers",
        pd.DataFrame(
            {"customer_id": ids, "name": [f"Zed Quorra{i}" for i in range(n)], "cancelled_at": cancelled}
        ),
    )
    keys = [f"sk_{i:032x}" for i in range(n)]
    arms = ["holdout" if i % 4 == 0 else "treatment" for i in range(n)]
    people = ["ann" if i % 2 else "bob" for i in range(n)]
    wh.insert_frame(
        "decisions",
        pd.DataFrame(
            {
                "send_key": keys,
                "as_of": date(2026, 1, 5),
                "customer_id": ids,
                "playbook": "high_value_cs_task",
                "action": "cs_task",
                "arm": arms,
                "decided_at": datetime(2026, 1, 5, 14),
                "assignee": people,
            }
        ),
    )
    wh.insert_frame(
        "desk_people",
        pd.DataFrame(
            {
                "username": ["ann", "bob"],
                "display_name": ["Ann Agent", "Bob Agent"],
                "role": "agent",
                "password_hash": "x",
                "active": True,
                "created_at": datetime(2026, 1, 1),
            }
        ),
    )
    wh.insert_frame(
        "cs_tasks",
        pd.DataFrame(
            {
                "task_id": [keys[1]],
                "as_of": date(2026, 1, 5),
                "customer_id": [ids[1]],
                "playbook": "high_value_cs_task",
                "guidance": "Call.",
                "state": "done",
                "created_at": datetime(2026, 1, 5, 14),
                "assignee": "ann",
                "outcome": "reached_stay",
                "notes": f"Zed Quorra1 ({ids[1]}) loved the review, mail zed@corp.example",
                "closed_at": datetime(2026, 1, 6),
                "closed_by": "ann",
            }
        ),
    )
    page = recognition_html(wh, date(2026, 3, 1), _table)
    assert "Ann Agent" in page
    assert "Bob Agent" in page
    assert "Ann Agent's note: [name] ([id]) loved the review, mail [email]" in page
    assert "Quorra" not in page
    assert ids[1] not in page
    assert "zed@" not in page
