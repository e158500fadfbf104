"""Desk credit benchmark: does the recognition board rank the simulated people by their hidden skill?

A purpose-built run of the simulated world with its customer-success people, using the shipped pieces: every day
the riskiest live customers not yet decided (the world's own hazard with log-normal noise, standing in for a churn
model) become CS-task decisions; who would work each is drawn by the shipped
:func:`~proactive_ml.outreach.policy.assign_workers` (owner first) *before* the shipped holdout draw
(:func:`~proactive_ml.outreach.policy.assign_holdout`, the product's shares unless told); each worked task's
outcome is what the person would record (:func:`~proactive_ml.sim.employees.choose_outcome`) and the world applies
its effect by the person's hidden skill. After the last decision has aged ``horizon`` days, the shipped
:func:`~proactive_ml.measurement.credit.credit_table` builds the board from the decisions of the first d days, for
growing d (so tasks per person grow), and each board is compared with the hidden skills.

Figures (means over ``--replicates`` worlds):

- ``credit_spearman``: Spearman correlation of credited saves per person with hidden skill, at the most tasks;
- ``tasks_per_person``: the smallest mean number of worked tasks per person at which the mean Spearman reaches
  ``--goal`` (null if it never does), and ``curve``: [tasks per person, mean Spearman of credited saves, mean
  Spearman of the shrunk per-customer effect] per step;
- ``skill_spearman_true``: Spearman of the world's true saves per person (from its work truth) with skill, the
  ceiling the board can reach with these task volumes.

Last line: one JSON object. Usage: ``python bench/desk_credit.py [--customers 200000] [--people 24] [--days 60]``
(about 3 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import timedelta

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from proactive_ml.identity import send_key
from proactive_ml.measurement.credit import credit_table
from proactive_ml.outreach.policy import assign_holdout, assign_workers
from proactive_ml.sim.employees import StaffConfig, choose_outcome, hidden_skills, make_staff, work_multiplier
from proactive_ml.sim.world import World, WorldConfig
from proactive_ml.sim.world.activity import OWNED_FROM_PLAN
from proactive_ml.sim.world.text import CS_OWNERS

PLAYBOOK = "high_value_cs_task"
SALT = "proactive-holdout-v1"


def _people_frame(staff: list) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "username": [e.username for e in staff],
            "display_name": [e.display_name for e in staff],
            "role": [e.role for e in staff],
            "active": True,
        }
    )


def _day_decisions(world: World, decided: np.ndarray, k: int, rng: np.random.Generator) -> pd.DataFrame:
    """The day's K riskiest live, undecided customers (noisy hazard) as CS-task candidates with their owner."""
    n = world.n
    risk = world.base_hazard()[:n] * np.exp(rng.normal(0.0, 0.5, n))
    risk[decided[:n] | (world.c["cancel_us"][:n] >= 0)] = -1.0
    idx = np.argsort(-risk)[:k]
    idx = idx[risk[idx] > 0]
    owned = world.c["plan"][idx] >= OWNED_FROM_PLAN
    owner = np.where(owned, np.array(CS_OWNERS, dtype=object)[idx % len(CS_OWNERS)], None)
    ids = pd.Series(world._ids().take(idx).to_pylist(), dtype="str")  # noqa: SLF001 - the bench reads the world
    return pd.DataFrame(
        {"slot": idx, "customer_id": ids, "action": "cs_task", "playbook": PLAYBOOK, "owner": owner}
    )


def run_world(args: argparse.Namespace, seed: int) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, object]:
    """One world: decisions (with arm, assignee, cancelled_at), hidden skills, the work truth, and the end date."""
    world = World(WorldConfig(n_customers=args.customers, seed=seed, monthly_churn=args.monthly_churn))
    cfg = StaffConfig(n_people=args.people)
    staff = make_staff(seed, cfg)
    by_user = {e.username: e for e in staff}
    people = _people_frame(staff)
    rng = np.random.default_rng([seed, 0xBE4C])
    decided = np.zeros(args.customers * 3, dtype=bool)
    rows = []
    for _ in range(args.warmup):
        world.step()
    for _ in range(args.days):
        world.step()
        day = world.today + timedelta(days=1)
        d = _day_decisions(world, decided, args.tasks_per_day, rng)
        decided[d["slot"].to_numpy()] = True
        d["assignee"] = assign_workers(d, people, SALT)  # before the draw, as the product does
        d = assign_holdout(d, SALT, args.global_holdout, args.playbook_holdout)
        d["as_of"] = day
        d["send_key"] = [send_key(c, PLAYBOOK, day) for c in d["customer_id"]]
        worked = d[d["arm"] == "treatment"]
        forms = [
            choose_outcome(by_user[a], k, seed, cfg)
            for a, k in zip(worked["assignee"], worked["send_key"], strict=True)
        ]
        mult = [
            work_multiplier(by_user[a].skill, f["outcome"] != "not_reached", cfg)
            for a, f in zip(worked["assignee"], forms, strict=True)
        ]
        work = pd.DataFrame(
            {
                "customer_id": worked["customer_id"],
                "person": worked["assignee"],
                "outcome": [f["outcome"] for f in forms],
                "multiplier": mult,
            }
        )
        world.apply_work(work, world.day, cfg.effect_days)
        rows.append(d)
    for _ in range(args.horizon + 1):
        world.step()
    dec = pd.concat(rows, ignore_index=True)
    cancel = world.c["cancel_us"][dec["slot"].to_numpy()]
    dec["cancelled_at"] = pd.to_datetime(
        np.where(cancel >= 0, cancel, np.iinfo(np.int64).min), unit="us"
    ).where(cancel >= 0)
    return dec, hidden_skills(staff), world.work_truth(), world.today


def _spearman(a: pd.Series, b: pd.Series) -> float:
    both = pd.concat([a, b], axis=1).dropna()
    if len(both) < 3 or both.iloc[:, 0].nunique() < 2:
        return float("nan")
    return float(spearmanr(both.iloc[:, 0], both.iloc[:, 1]).statistic)


def curve_for(
    dec: pd.DataFrame, skill: pd.Series, end: object, steps: list[int], horizon: int
) -> list[list[float]]:
    """[tasks per person, Spearman of credited saves, Spearman of the shrunk effect] for each prefix of days."""
    days = sorted(dec["as_of"].unique())
    out = []
    for n_days in steps:
        part = dec[dec["as_of"].isin(days[:n_days])]
        board = credit_table(part, end, horizon_days=horizon).set_index("person")
        out.append(
            [
                float(board["worked"].mean()),
                _spearman(board["credited_saves"], skill),
                _spearman(board["shrunk_effect"], skill),
            ]
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the replicates, print the curve and the JSON line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=200_000, help="customers per simulated world")
    p.add_argument("--people", type=int, default=24, help="customer-success people")
    p.add_argument("--days", type=int, default=60, help="days of decisions")
    p.add_argument("--tasks-per-day", type=int, default=1200, help="CS-task decisions per day (both arms)")
    p.add_argument("--warmup", type=int, default=5, help="days simulated before the first decision")
    p.add_argument("--horizon", type=int, default=30, help="retention horizon of the board (days)")
    p.add_argument("--monthly-churn", type=float, default=0.027, help="the world's monthly churn")
    p.add_argument(
        "--global-holdout", type=float, default=0.05, help="global holdout share (product default)"
    )
    p.add_argument(
        "--playbook-holdout", type=float, default=0.10, help="playbook holdout share (product default)"
    )
    p.add_argument("--replicates", type=int, default=5, help="worlds (seeds) to average over")
    p.add_argument("--goal", type=float, default=0.6, help="Spearman the board should reach")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    steps = sorted({max(1, round(a.days * f)) for f in (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)})
    curves, truth_rho = [], []
    for r in range(a.replicates):
        dec, skill, truth, end = run_world(a, 42 + r)
        curves.append(curve_for(dec, skill, end, steps, a.horizon))
        truth_rho.append(_spearman(truth.groupby("person")["true_saves"].sum(), skill))
        print(f"replicate {r}: {[[round(x, 2) for x in row] for row in curves[-1]]}", flush=True)
    mean = np.nanmean(np.array(curves, dtype=float), axis=0)
    curve = [[round(float(t), 1), round(float(s), 3), round(float(e), 3)] for t, s, e in mean]
    reached = [t for t, s, _ in curve if s >= a.goal]
    out = {
        "credit_spearman": curve[-1][1],
        "tasks_per_person": reached[0] if reached else None,
        "goal": a.goal,
        "curve": curve,
        "skill_spearman_true": round(float(np.nanmean(truth_rho)), 3),
        "people": a.people,
        "customers": a.customers,
        "holdout_shares": [a.global_holdout, a.playbook_holdout],
        "replicates": a.replicates,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
