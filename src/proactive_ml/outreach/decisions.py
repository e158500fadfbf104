"""Storage edge of the day's decisions: decisions, their planned send_ledger rows and CS tasks, in ONE transaction.

Exactly once comes from constraints: ``send_key`` (customer, playbook, window) is the PRIMARY KEY of decisions and
of send_ledger (``ON CONFLICT DO NOTHING``); the frequency cap and the day's budgets are re-checked inside the
transaction against committed decisions (PostgreSQL: under a transaction-scoped advisory lock, so concurrent runs
serialise their decision writes). What happens to a ledger row afterwards is :mod:`proactive_ml.outreach.ledger`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from proactive_ml.warehouse import Warehouse

ADVISORY_LOCK_KEY = 5_807_311_001  # PostgreSQL advisory lock id for decision writes


def recent_contacts(wh: Warehouse, as_of: date, cap_days: int) -> pd.DataFrame:
    """Decisions (either arm) less than ``cap_days`` away from as_of (before or after).

    Columns: customer_id, action, as_of, email (the customer's address: the cap also holds across customer ids
    sharing one).
    """
    return wh.query(
        "SELECT d.customer_id, d.action, d.as_of, c.email FROM decisions d "
        "LEFT JOIN customers c ON c.customer_id = d.customer_id WHERE d.as_of > :since AND d.as_of < :until",
        {"since": as_of - timedelta(days=cap_days), "until": as_of + timedelta(days=cap_days)},
    )


# the staged decisions of one day (see :func:`record_decisions`), as the inserts below read them
TASK_DUE_DAYS = 2  # a CS task is due this many days after its decision
_STAGED_COLUMNS = [
    *("send_key", "as_of", "customer_id", "playbook", "action", "arm", "holdout_kind"),  # the decision
    *("score", "uplift", "expected_value", "reasons", "send_at", "guidance", "priority"),  # its figures
    *(
        "variant",
        "assignee",
        "p_treat",
        "policy",
    ),  # who would work it; how likely treatment was, under which policy
]
# a decision is skipped when the customer has another decision less than the cap away (either side of as_of)
_INSERT_DECISIONS = """INSERT INTO decisions (send_key, as_of, customer_id, playbook, action, arm, holdout_kind, score,
                       uplift, expected_value, reasons, decided_at, variant, assignee, p_treat, policy)
                SELECT s.send_key, CAST(s.as_of AS DATE), s.customer_id, s.playbook, s.action, s.arm,
                       s.holdout_kind, s.score, s.uplift, s.expected_value, s.reasons, :now, s.variant,
                       s.assignee, s.p_treat, s.policy
                FROM {staged} s
                WHERE NOT EXISTS (SELECT 1 FROM decisions d WHERE d.customer_id = s.customer_id
                                  AND d.send_key <> s.send_key
                                  AND d.as_of > CAST(:since AS DATE) AND d.as_of < CAST(:until AS DATE))
                ON CONFLICT DO NOTHING"""
_INSERT_LEDGER = """INSERT INTO send_ledger (send_key, customer_id, playbook, window_start, state, message_id, attempts,
                       created_at, updated_at, send_at)
                SELECT s.send_key, s.customer_id, s.playbook, CAST(s.as_of AS DATE), 'planned', NULL, 0, :now, :now,
                       s.send_at
                FROM {staged} s JOIN decisions d ON d.send_key = s.send_key
                WHERE d.arm = 'treatment' AND d.action = 'email'
                ON CONFLICT DO NOTHING"""
_INSERT_TASKS = """INSERT INTO cs_tasks (task_id, as_of, customer_id, playbook, priority, expected_value, score, reasons,
                       guidance, state, created_at, assignee, due_date, updated_at)
                SELECT s.send_key, CAST(s.as_of AS DATE), s.customer_id, s.playbook, s.priority, s.expected_value,
                       s.score, s.reasons, s.guidance, 'open', :now, s.assignee, CAST(s.due_date AS DATE), :now
                FROM {staged} s JOIN decisions d ON d.send_key = s.send_key
                WHERE d.arm = 'treatment' AND d.action = 'cs_task'
                ON CONFLICT DO NOTHING"""


def _staged_decisions(
    decisions: pd.DataFrame, guidance: dict[str, str] | None, priorities: dict[str, int] | None
) -> pd.DataFrame:
    """The decisions as staged for the inserts: ISO day, null hold-out kinds, each playbook's guidance and priority."""
    df = decisions.copy()
    df["as_of"] = pd.to_datetime(df["as_of"]).dt.strftime("%Y-%m-%d")
    df["send_at"] = pd.to_datetime(df["send_at"])
    df["holdout_kind"] = df["holdout_kind"].astype(object).where(df["holdout_kind"].notna(), None)
    df["guidance"] = df["playbook"].map(lambda p: (guidance or {}).get(p, "")).astype(str)
    df["priority"] = df["playbook"].map(lambda p: (priorities or {}).get(p, 0)).astype("int64")
    df["uplift"] = pd.to_numeric(df["uplift"], errors="coerce").astype(float)
    for col in ("variant", "assignee", "policy"):
        if col not in df.columns:
            df[col] = None
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    if "p_treat" not in df.columns:
        df["p_treat"] = np.nan
    df["p_treat"] = pd.to_numeric(df["p_treat"], errors="coerce").astype(float)
    df["due_date"] = (pd.to_datetime(df["as_of"]) + pd.Timedelta(days=TASK_DUE_DAYS)).dt.strftime("%Y-%m-%d")
    return df[[*_STAGED_COLUMNS, "due_date"]]


def record_decisions(
    wh: Warehouse,
    decisions: pd.DataFrame,
    *,
    now: datetime,
    cap_days: int,
    guidance: dict[str, str] | None = None,
    priorities: dict[str, int] | None = None,
    daily_budget: int | None = None,
    max_tasks: int | None = None,
) -> dict[str, int]:
    """Write decisions, planned ledger rows (email treatment) and CS tasks (cs_task treatment) in ONE transaction.

    The frequency cap is enforced again here against committed rows: a decision is skipped if the customer has a
    decision with another send_key (any playbook, email or CS task, either arm) less than ``cap_days`` away.

    The day's budgets hold per day, not per run: a day's decisions are final, so a rerun of the same day (a retry,
    a backfill, a second scheduler) only adds decisions while the day's committed email decisions are fewer than
    ``daily_budget`` (CS tasks: ``max_tasks``), best expected value first. The count is taken inside the
    transaction (PostgreSQL: under the advisory lock), so concurrent runs cannot exceed it together either.

    Args:
        wh: The warehouse.
        decisions: The decisions of one day (``as_of``), both arms.
        now: The time written as decided/created.
        cap_days: The frequency cap in days.
        guidance: The CS guidance per playbook (tasks).
        priorities: The priority per playbook (tasks).
        daily_budget: Email decisions (both arms) allowed for the day in total; None: no limit.
        max_tasks: CS-task decisions allowed for the day in total; None: no limit.

    Returns:
        Counts of inserted rows: ``{"decisions", "ledger", "tasks"}``, plus ``over_day_budget`` (new decisions
        left out because the day's budget was already used) when a budget is given. ValueError when the
        decisions are of more than one day.
    """
    if decisions.empty:
        return {"decisions": 0, "ledger": 0, "tasks": 0}
    staged = _staged_decisions(decisions, guidance, priorities)
    as_of = pd.to_datetime(decisions["as_of"]).min().date()
    if pd.to_datetime(decisions["as_of"]).nunique() != 1:
        raise ValueError("record_decisions takes the decisions of one day")
    # the cap is symmetric: a contact less than cap_days before *or after* (an out-of-order or backfill run)
    p = {"now": now, "since": as_of - timedelta(days=cap_days), "until": as_of + timedelta(days=cap_days)}
    over, budgets = 0, {"email": daily_budget, "cs_task": max_tasks}
    with wh.transaction():
        if wh.backend == "postgres":
            wh.execute(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})")
        if daily_budget is not None or max_tasks is not None:
            kept = _within_day_budget(wh, staged, as_of, p, budgets)
            over, staged = len(staged) - len(kept), kept
        with wh.staged(staged, "outreach_staged") as t:
            n_dec = wh.execute(_INSERT_DECISIONS.format(staged=t), p)
            n_led = wh.execute(_INSERT_LEDGER.format(staged=t), {"now": now})
            n_task = wh.execute(_INSERT_TASKS.format(staged=t), {"now": now})
    out = {"decisions": max(n_dec, 0), "ledger": max(n_led, 0), "tasks": max(n_task, 0)}
    return out | ({"over_day_budget": over} if daily_budget is not None or max_tasks is not None else {})


def _within_day_budget(
    wh: Warehouse,
    staged: pd.DataFrame,
    as_of: date,
    window: dict[str, object],
    budgets: dict[str, int | None],
) -> pd.DataFrame:
    """The staged rows that fit in what is left of the day's budgets (call inside the decisions' transaction).

    Rows already recorded (same send_key) stay (their insert is a no-op) and rows the frequency cap will skip are
    not counted; of the new rows, the best expected values are kept while the day's committed decisions of their
    action are fewer than the budget.
    """
    near = wh.query(
        "SELECT send_key, customer_id, as_of, action FROM decisions "
        "WHERE as_of > CAST(:since AS DATE) AND as_of < CAST(:until AS DATE)",
        {"since": window["since"], "until": window["until"]},
    )
    known = set(near["send_key"].astype(str))
    contacted = set(near["customer_id"].astype(str))
    same_day = near[pd.to_datetime(near["as_of"]).dt.date == as_of]
    used = same_day["action"].astype(str).value_counts().to_dict()
    is_known = staged["send_key"].astype(str).isin(known)
    fresh = staged[~is_known & ~staged["customer_id"].astype(str).isin(contacted)]
    fresh = fresh.sort_values(["expected_value", "customer_id"], ascending=[False, True], kind="mergesort")
    keep = [fresh.index[:0]]
    for action, rows in fresh.groupby("action", sort=False):
        budget = budgets.get(str(action))
        left = len(rows) if budget is None else max(int(budget) - int(used.get(action, 0)), 0)
        keep.append(rows.index[:left])
    idx = staged.index[is_known].append(keep)
    return staged.loc[staged.index.isin(idx)]
