"""The simulated company's customer-success people: a hidden skill each, and how they work a task.

A few dozen people (default 24): some of the world's account owners (:data:`~proactive_ml.sim.world.text.CS_OWNERS`;
the accounts of the others, who are not at the desk, go to a person drawn at random) and generated names, two of
them leads, all in one team. Each has a hidden ``skill`` ~ N(0, 1). Working a task:

* the person reaches the customer with probability ``sigmoid(reach_base + reach_per_skill x skill)``;
* a reached customer's churn hazard is multiplied by ``exp(-(base_effect + skill_effect x skill))`` for
  ``effect_days`` days (below 1 for most, above 1 for the least skilled: a poor call can push a customer away);
* what they record (stay / leave / undecided, an offer within their authority, a note) is drawn from the person's
  own generator, so it says something about the call but is not the truth.

Everything random here comes from generators seeded by the world's seed and this module's own constant, never
from the world's stream. Passwords are generated and kept in memory only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from proactive_ml.sim.world import text

STREAM = 0x5EED_DE5C  # the employees' own generator: (world seed, STREAM)
TEAM = "customer-success"
NOTES_STAY = (
    "Walked them through the reporting setup; they are happy to continue.",
    "Fixed the integration with them on the call. Renewal looks safe.",
    "They felt ignored after a slow ticket; apologised and set up a monthly check-in.",
)
NOTES_LEAVE = (
    "Budget cut on their side, moving to a cheaper tool.",
    "They already signed with a competitor.",
)
NOTES_UNDECIDED = (
    "Will decide after their quarterly review.",
    "Sent them the migration guide; follow up next week.",
)
NOTES_NOT_REACHED = ("Voicemail twice, email sent.", "No answer; the contact may have left.")


@dataclass(frozen=True)
class StaffConfig:
    """How many people and how much their work changes a customer's hazard."""

    n_people: int = 24
    n_owners: int = 4  # of the world's account owners; the others' accounts go to a person drawn at random
    n_leads: int = 2
    base_effect: float = 0.35  # log-hazard reduction of an average person's reached call
    skill_effect: float = 0.45  # ... plus this per standard deviation of skill
    reach_base: float = 0.8
    reach_per_skill: float = 0.5
    effect_days: int = 30


@dataclass(frozen=True)
class Employee:
    """One person of the simulated company (``skill`` is hidden from the product)."""

    username: str
    display_name: str
    role: str
    skill: float
    password: str = field(repr=False, default="")
    team: str = TEAM


def _usernames(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        base = ".".join(name.lower().split())
        user, k = base, 2
        while user in out:
            user, k = f"{base}{k}", k + 1
        out.append(user)
    return out


def make_staff(seed: int, config: StaffConfig | None = None) -> list[Employee]:
    """The company's people: owners first, then generated names; skills and passwords from their own generator."""
    cfg = config or StaffConfig()
    rng = np.random.default_rng([seed, STREAM])
    names = list(text.CS_OWNERS[: min(cfg.n_owners, cfg.n_people)])
    while len(names) < cfg.n_people:
        name = f"{rng.choice(text.FIRST_NAMES)} {rng.choice(text.LAST_NAMES)}"
        if name not in names and name not in text.SUPPORT_AGENTS and name not in text.CS_OWNERS:
            names.append(name)
    skills = rng.normal(0.0, 1.0, cfg.n_people)
    secret = rng.integers(0, 2**63, cfg.n_people)
    return [
        Employee(
            username=u,
            display_name=n,
            role="lead" if i < cfg.n_leads else "agent",
            skill=float(skills[i]),
            password=hashlib.sha256(f"{seed}|{u}|{secret[i]}".encode()).hexdigest()[:20],
        )
        for i, (u, n) in enumerate(zip(_usernames(names), names, strict=True))
    ]


def work_multiplier(skill: float, reached: bool, config: StaffConfig | None = None) -> float:
    """The factor on a worked customer's hazard: 1 when not reached, else ``exp(-(base + k x skill))``."""
    cfg = config or StaffConfig()
    return float(np.exp(-(cfg.base_effect + cfg.skill_effect * skill))) if reached else 1.0


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def choose_outcome(
    person: Employee, task_id: str, seed: int, config: StaffConfig | None = None
) -> dict[str, str]:
    """The desk form a person fills in for a task: outcome, maybe an offer within an agent's limit, a note.

    Drawn from the person's generator for this task (seeded by world seed, username and task id): reproducible.
    """
    cfg = config or StaffConfig()
    digest = hashlib.sha256(f"{seed}|{person.username}|{task_id}".encode()).digest()
    rng = np.random.default_rng([STREAM, int.from_bytes(digest[:8], "little")])
    form = {"outcome": "not_reached", "offer": "", "offer_value": "", "offer_accepted": "", "notes": ""}
    if rng.random() >= _sigmoid(cfg.reach_base + cfg.reach_per_skill * person.skill):
        form["notes"] = str(rng.choice(NOTES_NOT_REACHED))
        return form
    u = rng.random()
    pool: tuple[str, ...]
    stay = _sigmoid(0.6 + person.skill)
    if u < stay:
        form["outcome"], pool = "reached_stay", NOTES_STAY
    elif u < stay + (1 - stay) / 2:
        form["outcome"], pool = "reached_leave", NOTES_LEAVE
    else:
        form["outcome"], pool = "reached_undecided", NOTES_UNDECIDED
    form["notes"] = str(rng.choice(pool))
    if rng.random() < 0.35:
        offer, value = (
            ("discount", int(rng.integers(5, 16))) if rng.random() < 0.5 else ("priority_support", 90)
        )
        form.update(offer=offer, offer_value=str(value), offer_accepted="yes" if rng.random() < 0.6 else "no")
    return form


def work_effects(
    closed: pd.DataFrame, staff: list[Employee], config: StaffConfig | None = None
) -> pd.DataFrame:
    """What closed tasks do to their customers: customer_id, person, outcome, multiplier (for ``World.apply_work``).

    ``closed``: task rows as the desk recorded them (customer_id, closed_by, outcome). A task closed by someone
    who is not a simulated employee (a person at the desk) has no effect on the world.
    """
    skill = {e.username: e.skill for e in staff}
    rows = closed[closed["closed_by"].astype(str).isin(skill)]
    mult = [
        work_multiplier(skill[str(p)], str(o).startswith("reached"), config)
        for p, o in zip(rows["closed_by"], rows["outcome"], strict=True)
    ]
    return pd.DataFrame(
        {
            "customer_id": rows["customer_id"].astype(str).to_numpy(),
            "person": rows["closed_by"].astype(str).to_numpy(),
            "outcome": rows["outcome"].astype(str).to_numpy(),
            "multiplier": np.asarray(mult, dtype=float),
        }
    )


def hidden_skills(staff: list[Employee]) -> pd.Series:
    """The truth kept for measuring: skill per username."""
    return pd.Series({e.username: e.skill for e in staff}, dtype=float)
