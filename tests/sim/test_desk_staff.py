"""Simulated employees work their tasks through the desk's own HTTP pages (login, queue, task, outcome)."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from proactive_ml.desk.app import create_app
from proactive_ml.sim.desk_staff import DeskStaff, closed_tasks, register_demo_lead, register_staff
from proactive_ml.sim.employees import StaffConfig, make_staff, work_effects

NOW = datetime(2026, 3, 2, 15)


def _tasks(duck, assignees: list[str]) -> None:
    n = len(assignees)
    ids = [f"c{i:07d}" for i in range(1, n + 1)]
    duck.insert_frame(
        "customers",
        pd.DataFrame(
            {
                "customer_id": ids,
                "name": "<script>x</script>",
                "plan": "enterprise",
                "monthly_revenue": 2000.0,
            }
        ),
    )
    duck.insert_frame(
        "cs_tasks",
        pd.DataFrame(
            {
                "task_id": [f"sk_{i:04d}" for i in range(n)],
                "as_of": date(2026, 3, 2),
                "customer_id": ids,
                "playbook": "high_value_cs_task",
                "priority": 1,
                "expected_value": [100.0 + i for i in range(n)],
                "score": 0.4,
                "reasons": "usage_drop",
                "guidance": "Call them.",
                "state": "open",
                "created_at": NOW,
                "assignee": assignees,
                "due_date": date(2026, 3, 4),
            }
        ),
    )


def test_employees_log_in_and_close_their_own_tasks_over_http(duck, settings) -> None:
    staff = make_staff(9, StaffConfig(n_people=2, n_leads=0))
    a, b = staff[0].username, staff[1].username
    _tasks(duck, [a, a, a, b, b, "someone.else"])
    register_staff(duck, staff, NOW)
    app = create_app(duck, settings, clock=lambda: NOW)
    done = DeskStaff(app, staff, seed=9).work_day()
    assert sorted(done["person"]) == sorted([a, a, a, b, b])  # each closes exactly their own tasks
    assert DeskStaff(app, staff, seed=9).work_day().empty  # nothing left on their queues
    rec = closed_tasks(duck, done["task_id"].tolist()).set_index("task_id")
    assert (rec.loc[done["task_id"], "outcome"].to_numpy() == done["outcome"].to_numpy()).all()
    audit = duck.query("SELECT actor, task_id, action FROM desk_audit WHERE action = 'outcome'")
    assert sorted(audit["task_id"]) == sorted(done["task_id"])  # the desk audited every change
    assert duck.scalar("SELECT state FROM cs_tasks WHERE assignee = 'someone.else'") == "open"
    effects = work_effects(rec.reset_index(), staff)
    assert len(effects) == 5
    user, password = register_demo_lead(duck, NOW)
    assert duck.scalar("SELECT role FROM desk_people WHERE username = :u", {"u": user}) == "lead"
    assert len(password) >= 16
