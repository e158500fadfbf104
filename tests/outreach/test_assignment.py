"""Who would work a CS task is decided before the holdout draw: the owner first, else a salted draw; both arms."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from proactive_ml.outreach.playbooks import load_playbooks
from proactive_ml.outreach.policy import assign_workers, eligible_workers
from proactive_ml.outreach.selection import PolicyParams, plan_outreach

AS_OF = datetime(2026, 11, 24, 14)
PEOPLE = pd.DataFrame(
    {
        "username": ["maria", "dave", "lena", "boss", "gone", "root"],
        "display_name": ["Maria Santos", "David Okafor", "Lena Fischer", "Tom Becker", "Aisha Khan", "Admin"],
        "role": ["agent", "agent", "agent", "lead", "agent", "admin"],
        "active": [True, True, True, True, False, True],
    }
)


def _tasks(n: int, owners: list[object] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(n)],
            "action": "cs_task",
            "owner": owners if owners is not None else [None] * n,
        }
    )


def test_only_active_agents_and_leads_are_eligible_in_a_stable_order() -> None:
    assert eligible_workers(PEOPLE)["username"].tolist() == ["boss", "dave", "lena", "maria"]
    assert eligible_workers(PEOPLE.sample(frac=1.0, random_state=3))["username"].tolist() == [
        "boss",
        "dave",
        "lena",
        "maria",
    ]
    assert eligible_workers(None).empty


def test_the_owner_works_the_task_when_eligible_else_a_draw() -> None:
    frame = _tasks(5, [" maria  SANTOS", "lena", "Aisha Khan", "Admin", None]).assign(
        action=["cs_task", "cs_task", "cs_task", "cs_task", "email"]
    )
    got = assign_workers(frame, PEOPLE, "salt")
    assert got[0] == "maria"  # by display name, case and spaces ignored
    assert got[1] == "lena"  # by username
    assert got[2] in {"boss", "dave", "lena", "maria"}  # owner inactive: drawn among the eligible
    assert got[3] in {"boss", "dave", "lena", "maria"}  # owner is an admin: drawn
    assert got[4] is None  # emails are nobody's task


def test_the_draw_is_reproducible_uniform_and_salted() -> None:
    frame = _tasks(4000)
    a = assign_workers(frame, PEOPLE, "salt")
    b = assign_workers(frame.sample(frac=1.0, random_state=1), PEOPLE.iloc[::-1], "salt").loc[frame.index]
    assert a.equals(b)  # the same customers get the same people, whatever the order of rows or people
    shares = a.value_counts(normalize=True)
    assert set(shares.index) == {"boss", "dave", "lena", "maria"}
    assert np.allclose(shares.to_numpy(), 0.25, atol=0.03)
    assert (assign_workers(frame, PEOPLE, "other") != a).mean() > 0.5


def test_nobody_to_assign_leaves_the_assignee_empty() -> None:
    assert assign_workers(_tasks(3), None, "s").isna().all()
    assert assign_workers(_tasks(3), PEOPLE[PEOPLE["role"] == "admin"], "s").isna().all()


def _candidates(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(n)],
            "email": [f"u{i}@example.org" for i in range(n)],
            "marketing_consent": True,
            "cancelled_at": pd.NaT,
            "timezone": "UTC",
            "plan": "enterprise",
            "monthly_revenue": 2000.0,
            "score": rng.uniform(0.3, 0.9, n),
            "reasons": [["usage_drop"]] * n,
            "owner": [["Maria Santos", None, "nobody we know"][i % 3] for i in range(n)],
        }
    )


def test_plan_outreach_assigns_before_the_holdout_in_both_arms() -> None:
    frame = _candidates(400)
    config = load_playbooks()
    params = PolicyParams(playbook_holdout_share=0.3)
    d, _ = plan_outreach(frame, config, as_of=AS_OF, params=params, people=PEOPLE)
    tasks = d[d["action"] == "cs_task"]
    assert len(tasks) > 20
    assert tasks["assignee"].notna().all()
    assert set(tasks["arm"]) == {"treatment", "holdout"}
    for _, arm in tasks.groupby("arm"):
        assert arm["assignee"].nunique() > 1  # each person has treated and held-out customers alike
    owner = frame.set_index("customer_id").loc[tasks["customer_id"], "owner"].to_numpy()
    assert (tasks.loc[owner == "Maria Santos", "assignee"] == "maria").all()
    again, _ = plan_outreach(frame, config, as_of=AS_OF, params=params, people=PEOPLE)
    assert again["assignee"].equals(d["assignee"])
    without, _ = plan_outreach(frame, config, as_of=AS_OF, params=params)
    assert without["assignee"].isna().all()
    assert without["arm"].equals(d["arm"])  # who works a task never changes the draw
