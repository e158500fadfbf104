"""Credit for people's work, measured against the randomized holdout: the recognition board and success stories.

Who would work a customer-success task is decided *before* the holdout draw (the account's owner, else a person
drawn at random among the eligible; ``decisions.assignee``), so each person has two groups of customers: those
whose task they got (treatment arm, *worked*) and those held out of the same draw (holdout arm, *held out*). The
difference in retention between the two is what that person's work changed -- intent to treat: a task left undone
counts as worked, so closing tasks without helping earns nothing, and helping earns credit whatever was recorded.

Per person: retention at the horizon of worked vs held-out customers (first decision per customer), the difference
with Newcombe's interval, and an empirical-Bayes *shrunk* difference: small groups are pulled toward the team's
pooled difference by how noisy they are (DerSimonian-Laird between-person variance), so one lucky week with five
customers does not top the board. *Credited saves* = shrunk difference x customers worked; the board is ranked on
that, never on activity (tasks closed is shown, not ranked on).

:func:`credit_table` and :func:`stories_table` are pure; :func:`credit_board` and :func:`success_stories` read the
warehouse.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from proactive_ml.features import outcomes
from proactive_ml.measurement.intervals import newcombe_interval

HORIZON_DAYS = 30
BOARD_COLUMNS = [
    "person",
    "display_name",
    "worked",
    "held_out",
    "retained_worked",
    "retained_held",
    "effect",
    "low",
    "high",
    "shrunk_effect",
    "credited_saves",
    "tasks_closed",
]
STORY_KEYS = ("person", "display_name", "customer_id", "playbook", "kind", "text", "note", "at")
#: words that make a reply a success story (plain, case-insensitive; a reply with a stop request never is)
POSITIVE_WORDS = ("thank", "great", "helpful", "appreciate", "love", "perfect", "excellent", "glad", "danke")
#: a rating at or above this (1-5 scale) is a success story
GOOD_RATING = 4


def _person_rows(rows: pd.DataFrame, horizon_days: int, as_of: date | datetime) -> pd.DataFrame:
    """Each customer's first randomized task decision with a person, and whether they were retained (known only)."""
    d = outcomes.randomized(rows[rows["assignee"].notna()]).copy()
    d["decided"] = pd.to_datetime(d["as_of"])
    d = outcomes.first_per_customer(d)
    d["retained"] = outcomes.retained_known(d["decided"], d["cancelled_at"], horizon_days, as_of)
    return d[d["retained"].notna()]


def _shrink(effect: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, float]:
    """Empirical-Bayes shrinkage of per-person effects toward their precision-weighted mean (DerSimonian-Laird)."""
    ok = np.isfinite(effect) & np.isfinite(se) & (se > 0)
    if ok.sum() == 0:
        return np.full_like(effect, np.nan), float("nan")
    w = 1.0 / se[ok] ** 2
    pooled = float(np.sum(w * effect[ok]) / np.sum(w))
    q = float(np.sum(w * (effect[ok] - pooled) ** 2))
    denom = float(np.sum(w) - np.sum(w**2) / np.sum(w))
    tau2 = max(0.0, (q - (ok.sum() - 1)) / denom) if denom > 0 else 0.0
    weight = np.where(ok, tau2 / (tau2 + np.where(ok, se, 1.0) ** 2), 0.0)
    return pooled + weight * (np.where(ok, effect, pooled) - pooled), pooled


def credit_table(
    rows: pd.DataFrame,
    as_of: date | datetime,
    people: pd.DataFrame | None = None,
    tasks_closed: pd.Series | None = None,
    horizon_days: int = HORIZON_DAYS,
    by: str = "assignee",
) -> pd.DataFrame:
    """The board: one row per person (or per ``by`` column, e.g. playbook) with worked and held-out customers.

    Ranked on credited saves. ``rows``: decisions (send_key, as_of, customer_id, arm, assignee, and the ``by``
    column) with each customer's ``cancelled_at``. ``people``: username, display_name (optional).
    ``tasks_closed``: closed tasks per group key (activity, shown). The group key is in column ``person``.
    """
    d = _person_rows(rows, horizon_days, as_of)
    out = []
    for person, g in d.groupby(by, sort=True):
        a = g.loc[g["arm"] == outcomes.TREATMENT, "retained"].to_numpy(float)
        b = g.loc[g["arm"] == outcomes.HOLDOUT, "retained"].to_numpy(float)
        eff, lo, hi = newcombe_interval(a.sum(), len(a), b.sum(), len(b))
        ra, rb = (a.mean() if len(a) else np.nan), (b.mean() if len(b) else np.nan)
        out.append([str(person), len(a), len(b), ra, rb, eff, lo, hi, (hi - lo) / (2 * 1.959964)])
    cols = ["person", "worked", "held_out", "retained_worked", "retained_held", "effect", "low", "high", "se"]
    board = pd.DataFrame(out, columns=cols)
    board["shrunk_effect"], _ = _shrink(board["effect"].to_numpy(float), board["se"].to_numpy(float))
    board["credited_saves"] = board["shrunk_effect"] * board["worked"]
    names = {} if people is None else dict(zip(people["username"], people["display_name"], strict=False))
    board["display_name"] = board["person"].map(lambda p: names.get(p, p))
    closed = tasks_closed if tasks_closed is not None else pd.Series(dtype=int)
    board["tasks_closed"] = board["person"].map(closed).fillna(0).astype(int)
    board = board.sort_values(["credited_saves", "person"], ascending=[False, True], na_position="last")
    return board[BOARD_COLUMNS].reset_index(drop=True)


def _positive(text: Any) -> bool:
    low = str(text or "").lower()
    return any(w in low for w in POSITIVE_WORDS)


def stories_table(
    ratings: pd.DataFrame, replies: pd.DataFrame, tasks: pd.DataFrame, limit: int = 20
) -> list[dict[str, Any]]:
    """Success stories, newest first: good ratings, positive replies and tasks that ended with the customer staying.

    Each is tied to the task or email that earned it (its send key): a task's person and note come with it.
    ``ratings``: send_key, customer_id, playbook, score, rated_at. ``replies``: send_key, customer_id, playbook,
    body_text, is_auto, is_stop, received_at. ``tasks``: task_id, customer_id, playbook, assignee, display_name,
    outcome, notes, closed_at.
    """
    by_key = tasks.set_index("task_id") if len(tasks) else None
    stories: list[dict[str, Any]] = []

    def add(key: Any, customer: Any, playbook: Any, kind: str, text: str, at: Any) -> None:
        task = by_key.loc[key] if by_key is not None and key in by_key.index else None
        stories.append(
            {
                "person": None if task is None else task["assignee"],
                "display_name": None if task is None else task["display_name"],
                "customer_id": customer,
                "playbook": playbook,
                "kind": kind,
                "text": text,
                "note": None if task is None else task["notes"],
                "at": pd.Timestamp(at),
            }
        )

    for r in ratings[ratings["score"] >= GOOD_RATING].itertuples():
        add(r.send_key, r.customer_id, r.playbook, "rating", f"rated {int(r.score)} of 5", r.rated_at)
    good = replies[~replies["is_auto"].astype(bool) & ~replies["is_stop"].astype(bool)]
    for r in good[good["body_text"].map(_positive)].itertuples():
        add(r.send_key, r.customer_id, r.playbook, "reply", str(r.body_text), r.received_at)
    for t in tasks[tasks["outcome"] == "reached_stay"].itertuples():
        add(t.task_id, t.customer_id, t.playbook, "outcome", "the customer says they will stay", t.closed_at)
    stories.sort(key=lambda s: s["at"], reverse=True)
    return stories[:limit]


# ------------------------------------------------------------------ the edge
_DECISIONS_SQL = """SELECT d.send_key, d.as_of, d.customer_id, d.playbook, d.arm, d.assignee, c.cancelled_at
FROM decisions d LEFT JOIN customers c ON c.customer_id = d.customer_id
WHERE d.action = 'cs_task' AND d.assignee IS NOT NULL AND d.as_of <= CAST(:as_of AS DATE)"""
_TASKS_SQL = """SELECT t.task_id, t.customer_id, t.playbook, t.assignee, p.display_name, t.outcome, t.notes,
       t.closed_at, t.closed_by, t.state
FROM cs_tasks t LEFT JOIN desk_people p ON p.username = t.assignee"""


def credit_board(
    wh: Any, as_of: date | datetime, horizon_days: int = HORIZON_DAYS, by: str = "person"
) -> pd.DataFrame:
    """The recognition board from the warehouse (see :func:`credit_table`), per ``person`` or per ``playbook``."""
    day = pd.Timestamp(as_of).date().isoformat()
    rows = wh.query(_DECISIONS_SQL, {"as_of": day})
    people = wh.query("SELECT username, display_name FROM desk_people")
    tasks = wh.query(_TASKS_SQL)
    done = tasks[tasks["state"] == "done"]
    if by == "playbook":
        return credit_table(rows, as_of, None, done.groupby("playbook").size(), horizon_days, by="playbook")
    closed = done.groupby(done["closed_by"].fillna(done["assignee"])).size()
    return credit_table(rows, as_of, people, closed, horizon_days)


def success_stories(wh: Any, as_of: date | datetime, limit: int = 20) -> list[dict[str, Any]]:
    """The newest success stories up to ``as_of`` (see :func:`stories_table`); quoted text is as received."""
    until = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    p = {"until": until.to_pydatetime()}
    ratings = wh.query(
        "SELECT send_key, customer_id, playbook, score, rated_at FROM ratings WHERE rated_at < :until", p
    )
    replies = wh.query(
        "SELECT send_key, customer_id, playbook, body_text, is_auto, is_stop, received_at FROM replies "
        "WHERE received_at < :until",
        p,
    )
    tasks = wh.query(_TASKS_SQL)
    later = ~(pd.to_datetime(tasks["closed_at"]) < until)  # not closed by then (or never): no outcome yet
    tasks.loc[later, "outcome"] = None
    return stories_table(ratings, replies, tasks, limit)


__all__ = ["BOARD_COLUMNS", "credit_board", "credit_table", "stories_table", "success_stories"]
