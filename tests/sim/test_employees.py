"""Simulated employees: a hidden skill each, their work changes retention by it, and the world's stream is kept."""

from __future__ import annotations

import numpy as np
import pandas as pd

from proactive_ml.sim.employees import StaffConfig, choose_outcome, make_staff, work_effects, work_multiplier
from proactive_ml.sim.world import World, WorldConfig
from proactive_ml.sim.world.text import CS_OWNERS


def test_staff_are_reproducible_with_owners_leads_and_hidden_skills() -> None:
    staff = make_staff(42)
    assert len(staff) == 24
    assert [e.display_name for e in staff[:4]] == list(CS_OWNERS[:4])
    assert not {e.display_name for e in staff[4:]} & set(CS_OWNERS)
    assert len({e.username for e in staff}) == 24
    assert [e.role for e in staff].count("lead") == 2
    skills = np.array([e.skill for e in staff])
    assert skills.std() > 0.5
    assert (skills < 0).any()
    assert make_staff(42) == staff  # same seed, same people and passwords
    assert make_staff(43) != staff
    assert all(len(e.password) >= 16 for e in staff)
    assert "password" not in repr(staff[0])
    assert len(make_staff(1, StaffConfig(n_people=40))) == 40


def test_outcomes_follow_skill_and_are_reproducible() -> None:
    staff = make_staff(7, StaffConfig(n_people=2))
    good = staff[0].__class__(**{**staff[0].__dict__, "skill": 2.0})
    poor = staff[1].__class__(**{**staff[1].__dict__, "skill": -2.0})
    forms = {p.username: [choose_outcome(p, f"sk_{i}", 7) for i in range(400)] for p in (good, poor)}
    reached = {u: np.mean([f["outcome"] != "not_reached" for f in fs]) for u, fs in forms.items()}
    assert reached[good.username] > reached[poor.username] + 0.2
    assert choose_outcome(good, "sk_1", 7) == forms[good.username][1]
    offers = [f for f in forms[good.username] if f["offer"] == "discount"]
    assert offers
    assert all(5 <= int(f["offer_value"]) <= 15 for f in offers)  # within an agent's own limit
    assert work_multiplier(2.0, True) < work_multiplier(0.0, True) < 1.0 < work_multiplier(-2.0, True)
    assert work_multiplier(2.0, False) == 1.0


def _steps(world: World, days: int) -> list[pd.DataFrame]:
    return [world.step()["usage_events"] for _ in range(days)]


def test_making_staff_leaves_the_world_stream_unchanged() -> None:
    a, b = World(WorldConfig(n_customers=300, seed=5)), World(WorldConfig(n_customers=300, seed=5))
    make_staff(5)
    for x, y in zip(_steps(a, 3), _steps(b, 3), strict=True):
        pd.testing.assert_frame_equal(x, y)


def test_work_changes_retention_by_skill() -> None:
    world = World(WorldConfig(n_customers=3000, seed=11, monthly_churn=0.06))
    world.step()
    ids = world.truth(horizon_days=1)["customer_id"]
    live = ids[world.c["cancel_us"][: world.n] < 0].to_numpy()[:2400]
    groups = {"skilled": live[0::3], "poor": live[1::3], "unworked": live[2::3]}
    for person, skill in (("skilled", 2.0), ("poor", -2.0)):
        cid = groups[person]
        work = pd.DataFrame(
            {
                "customer_id": cid,
                "person": person,
                "outcome": "reached_stay",
                "multiplier": work_multiplier(skill, True),
            }
        )
        assert world.apply_work(work, world.day) == len(cid)
    for _ in range(30):
        world.step()
    idx = {k: v.astype(str) for k, v in groups.items()}
    cancelled = world.c["cancel_us"][: world.n] >= 0
    slot = {cid: i for i, cid in enumerate(ids)}
    churn = {k: cancelled[[slot[c] for c in v]].mean() for k, v in idx.items()}
    assert churn["skilled"] < churn["unworked"] < churn["poor"]
    truth = world.work_truth()
    by_person = truth.groupby("person")["true_saves"].mean()
    assert by_person["skilled"] > 0 > by_person["poor"]
    assert set(truth.columns) >= {"customer_id", "person", "day", "multiplier", "true_saves"}


def test_work_effects_come_from_what_the_desk_recorded() -> None:
    staff = make_staff(3, StaffConfig(n_people=3))
    closed = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3"],
            "closed_by": [staff[0].username, staff[1].username, "a.human"],
            "outcome": ["reached_stay", "not_reached", "reached_stay"],
        }
    )
    eff = work_effects(closed, staff)
    assert eff["customer_id"].tolist() == ["c1", "c2"]  # a real person's work is not simulated
    assert eff["multiplier"][0] == work_multiplier(staff[0].skill, True)
    assert eff["multiplier"][1] == 1.0
