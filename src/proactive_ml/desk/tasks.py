"""The desk's reads and writes of CS tasks: who may see which task, the queue, and every change with its audit row.

Visibility is one SQL condition (:func:`visible_sql`): an agent sees the tasks assigned to them, a lead also those
of their team's people, an admin all. A task outside it does not exist for that person (the pages answer 404).
Every change of a task writes a ``desk_audit`` row (who, when, what, a JSON detail without customer text) in the
same transaction as the change, so the trail can neither miss a change nor record one that did not happen.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd

from proactive_ml.desk.accounts import Person, get_person
from proactive_ml.outreach.authority import Authority
from proactive_ml.warehouse import Warehouse

OUTCOMES = {
    "reached_stay": "reached: says they will stay",
    "reached_leave": "reached: says they will leave",
    "reached_undecided": "reached: undecided",
    "not_reached": "not reached",
}
QUEUE_LIMIT = 200
# one row per customer (the customers table may hold several versions of a customer)
_CUSTOMER = "(SELECT customer_id, max(name) AS name, max(plan) AS plan FROM customers GROUP BY customer_id)"


class DeskError(Exception):
    """A request the desk refuses; ``status`` is the HTTP answer and the message is shown to the person."""

    status = 400


class NotFound(DeskError):
    """No such task (or approval) for this person: never says whether it exists for someone else."""

    status = 404


class Forbidden(DeskError):
    """The person may see this but not do that (e.g. an agent deciding an approval)."""

    status = 403


class Conflict(DeskError):
    """The task is no longer open (closed meanwhile, e.g. in another tab)."""

    status = 409


def visible_sql(person: Person, alias: str = "t") -> tuple[str, dict[str, Any]]:
    """The SQL condition (and its parameters) of the tasks ``person`` may see and change.

    An agent: their own. A lead: their own, their team's and the tasks nobody has yet (made while nobody eligible
    was on the desk), so that a lead can hand them out. An admin: all.
    """
    if person.role == "admin":
        return "TRUE", {}
    if person.role == "lead":
        team = f" OR {alias}.assignee IN (SELECT username FROM desk_people WHERE team = :vis_team)"
        params = {"vis_me": person.username, **({"vis_team": person.team} if person.team else {})}
        return (
            f"({alias}.assignee = :vis_me OR {alias}.assignee IS NULL{team if person.team else ''})",
            params,
        )
    return f"{alias}.assignee = :vis_me", {"vis_me": person.username}


def unassigned(wh: Warehouse, person: Person, today: date) -> int:
    """How many open tasks (not snoozed past ``today``) nobody has yet, for a lead or admin to hand out (0 else)."""
    if person.role == "agent":
        return 0
    return int(
        wh.scalar(
            """SELECT count(*) FROM cs_tasks WHERE state = 'open' AND assignee IS NULL
               AND (snoozed_until IS NULL OR snoozed_until <= :today)""",
            {"today": today},
        )
        or 0
    )


def queue(wh: Warehouse, person: Person, today: date, scope: str = "mine") -> pd.DataFrame:
    """Open tasks not snoozed past ``today``: the person's own (``scope='team'``: all they may see).

    Ordered by expected value (highest first), then due date (soonest first).
    """
    cond, params = ("t.assignee = :vis_me", {"vis_me": person.username})
    if scope == "team":
        cond, params = visible_sql(person)
    return wh.query(
        f"""SELECT t.task_id, t.customer_id, c.name AS customer_name, c.plan, t.playbook, t.expected_value,
                   t.due_date, t.assignee, t.as_of
            FROM cs_tasks t LEFT JOIN {_CUSTOMER} c ON c.customer_id = t.customer_id
            WHERE t.state = 'open' AND (t.snoozed_until IS NULL OR t.snoozed_until <= :today) AND {cond}
            ORDER BY t.expected_value DESC NULLS LAST, t.due_date NULLS LAST, t.task_id
            LIMIT {QUEUE_LIMIT}""",
        {"today": today, **params},
    )


def get_task(wh: Warehouse, person: Person, task_id: str) -> dict[str, Any]:
    """The task as a dict, if ``person`` may see it (NotFound otherwise, whether it exists or not)."""
    cond, params = visible_sql(person)
    df = wh.query(
        f"SELECT t.* FROM cs_tasks t WHERE t.task_id = :task AND {cond}", {"task": task_id, **params}
    )
    if df.empty:
        raise NotFound("no such task")
    row = df.iloc[0].to_dict()
    return {k: (None if v is None or (not isinstance(v, str) and pd.isna(v)) else v) for k, v in row.items()}


def write_audit(
    wh: Warehouse, actor: str, task_id: str | None, action: str, detail: dict[str, Any], now: datetime
) -> None:
    """One audit row (call inside the transaction of the change it records)."""
    wh.execute(
        "INSERT INTO desk_audit (audit_id, created_at, actor, task_id, action, detail) "
        "VALUES (:id, :now, :actor, :task, :action, :detail)",
        {
            "id": uuid.uuid4().hex,
            "now": now,
            "actor": actor,
            "task": task_id,
            "action": action,
            "detail": json.dumps(detail, sort_keys=True, default=str),
        },
    )


def _require_open(task: dict[str, Any]) -> None:
    if task["state"] != "open":
        raise Conflict("this task is already closed")


@dataclass(frozen=True)
class Outcome:
    """What a person recorded when closing a task."""

    outcome: str
    offer: str | None = None
    offer_value: float | None = None
    offer_accepted: str = ""  # "yes" | "no" | "" (no offer, or not known)
    notes: str = ""


def approved_value(wh: Warehouse, task_id: str, offer: str) -> float | None:
    """The largest approved value of ``offer`` for this task, or None when none was approved."""
    v = wh.scalar(
        "SELECT max(offer_value) FROM desk_approvals WHERE task_id = :t AND offer = :o AND state = 'approved'",
        {"t": task_id, "o": offer},
    )
    return None if v is None or pd.isna(v) else float(v)


def check_authority(
    wh: Warehouse, person: Person, task: dict[str, Any], authority: Authority, offer: str, value: float
) -> None:
    """DeskError unless ``person`` may offer ``value`` of ``offer`` on this task (own limit or an approval)."""
    limit = authority.get(offer)
    if limit is None:
        known = ", ".join(o.name for o in authority.offers) or "none"
        raise DeskError(f"offer {offer!r} is not declared for this playbook (declared: {known})")
    own = limit.limit_for(person.role)
    if own is not None and value > own:
        approved = approved_value(wh, task["task_id"], offer)
        if approved is None or value > approved:
            raise DeskError(
                f"{limit.title} of {value:g} ({limit.unit}) is above what you may offer on your own "
                f"({own:g}): request a lead's approval first"
            )


def record_outcome(
    wh: Warehouse, person: Person, task_id: str, result: Outcome, authority: Authority, now: datetime
) -> None:
    """Close the task with its outcome (state 'done'), checking the offer against the person's authority."""
    with wh.transaction():
        task = get_task(wh, person, task_id)
        _require_open(task)
        if result.offer:
            check_authority(wh, person, task, authority, result.offer, result.offer_value or 0.0)
        n = wh.execute(
            """UPDATE cs_tasks SET state = 'done', outcome = :outcome, offer = :offer, offer_value = :value,
                      notes = :notes, closed_at = :now, closed_by = :me, updated_at = :now
               WHERE task_id = :t AND state = 'open'""",
            {
                "outcome": result.outcome,
                "offer": result.offer,
                "value": result.offer_value,
                "notes": result.notes or None,
                "now": now,
                "me": person.username,
                "t": task_id,
            },
        )
        if n == 0:
            raise Conflict("this task is already closed")
        detail = {
            "outcome": result.outcome,
            "offer": result.offer,
            "offer_value": result.offer_value,
            "offer_accepted": result.offer_accepted or None,
            "notes_chars": len(result.notes),  # the notes stay on the task, not in the trail
        }
        write_audit(wh, person.username, task_id, "outcome", detail, now)


def request_approval(
    wh: Warehouse,
    person: Person,
    task_id: str,
    offer: str,
    value: float,
    authority: Authority,
    now: datetime,
    reason: str = "",
) -> str:
    """A pending approval for an offer above the person's own authority; returns its id (reason: in the trail)."""
    limit = authority.get(offer)
    if limit is None:
        raise DeskError(f"offer {offer!r} is not declared for this playbook")
    own = limit.limit_for(person.role)
    if own is None or value <= own:
        raise DeskError(f"{limit.title} of {value:g} is within your own authority: no approval is needed")
    approval_id = uuid.uuid4().hex
    with wh.transaction():
        task = get_task(wh, person, task_id)
        _require_open(task)
        wh.execute(
            "INSERT INTO desk_approvals (approval_id, task_id, requested_by, offer, offer_value, state, "
            "requested_at) VALUES (:id, :t, :me, :offer, :value, 'pending', :now)",
            {
                "id": approval_id,
                "t": task_id,
                "me": person.username,
                "offer": offer,
                "value": value,
                "now": now,
            },
        )
        detail = {"approval_id": approval_id, "offer": offer, "offer_value": value, "reason": reason}
        write_audit(wh, person.username, task_id, "approval_requested", detail, now)
    return approval_id


def approvals(wh: Warehouse, person: Person, state: str | None = "pending") -> pd.DataFrame:
    """Approvals of the tasks ``person`` may see (``state=None``: all), newest first."""
    cond, params = visible_sql(person)
    where = cond
    if state:
        where, params = f"{cond} AND a.state = :state", {**params, "state": state}
    return wh.query(
        f"""SELECT a.approval_id, a.task_id, a.requested_by, a.offer, a.offer_value, a.state, a.decided_by,
                   a.requested_at, a.decided_at, t.playbook, t.assignee
            FROM desk_approvals a JOIN cs_tasks t ON t.task_id = a.task_id
            WHERE {where} ORDER BY a.requested_at DESC LIMIT 500""",
        params,
    )


def request_reasons(wh: Warehouse, task_ids: list[str]) -> dict[str, str]:
    """Why each approval was asked for (approval id -> reason), read from the audit trail of these tasks."""
    if not task_ids:
        return {}
    params = {f"t{i}": t for i, t in enumerate(task_ids)}
    marks = ", ".join(f":{k}" for k in params)
    df = wh.query(
        f"SELECT detail FROM desk_audit WHERE action = 'approval_requested' AND task_id IN ({marks})", params
    )
    details = [json.loads(d) for d in df["detail"]]
    return {str(d.get("approval_id")): str(d.get("reason") or "") for d in details}


def history(wh: Warehouse, task_id: str) -> pd.DataFrame:
    """The audit trail of one task (the caller has checked the task is visible), oldest first."""
    return wh.query(
        "SELECT created_at, actor, action FROM desk_audit WHERE task_id = :t ORDER BY created_at, audit_id",
        {"t": task_id},
    )


def task_approvals(wh: Warehouse, task_id: str) -> pd.DataFrame:
    """Every approval of one task (the caller has checked the task is visible), oldest first."""
    return wh.query(
        "SELECT approval_id, requested_by, offer, offer_value, state, decided_by, requested_at, decided_at "
        "FROM desk_approvals WHERE task_id = :t ORDER BY requested_at",
        {"t": task_id},
    )


def decide_approval(
    wh: Warehouse,
    person: Person,
    approval_id: str,
    approve: bool,
    authorities: dict[str, Authority],
    now: datetime,
) -> str:
    """Approve or refuse a pending approval (a lead of the team, or an admin; never one's own request).

    A lead approves up to their own limit; above it only an admin can. Returns the task id.
    """
    if person.role not in ("lead", "admin"):
        raise NotFound("no such approval")
    with wh.transaction():
        rows = approvals(wh, person, state=None)
        match = rows[rows["approval_id"] == approval_id]
        if match.empty:
            raise NotFound("no such approval")
        a = match.iloc[0]
        if a["state"] != "pending":
            raise Conflict(f"this approval was already {a['state']}")
        if a["requested_by"] == person.username:
            raise Forbidden("you cannot decide your own request: another lead or an admin decides it")
        limit = authorities.get(str(a["playbook"]), Authority()).get(str(a["offer"]))
        own = limit.limit_for(person.role) if limit else None
        if approve and own is not None and float(a["offer_value"]) > own:
            raise Forbidden(
                f"{a['offer']} of {float(a['offer_value']):g} is above your authority ({own:g}): an admin decides"
            )
        state = "approved" if approve else "refused"
        wh.execute(
            "UPDATE desk_approvals SET state = :s, decided_by = :me, decided_at = :now "
            "WHERE approval_id = :id AND state = 'pending'",
            {"s": state, "me": person.username, "now": now, "id": approval_id},
        )
        detail = {
            "approval_id": approval_id,
            "decision": state,
            "offer": a["offer"],
            "offer_value": a["offer_value"],
        }
        write_audit(wh, person.username, str(a["task_id"]), f"approval_{state}", detail, now)
        return str(a["task_id"])


def flag_task(wh: Warehouse, person: Person, task_id: str, reason: str, now: datetime) -> None:
    """Flag a task's suggestion as wrong: one flag per task (a second one replaces the reason)."""
    with wh.transaction():
        task = get_task(wh, person, task_id)
        wh.execute(
            """INSERT INTO desk_flags (task_id, customer_id, playbook, flagged_by, reason, created_at)
               VALUES (:t, :c, :p, :me, :reason, :now)
               ON CONFLICT (task_id) DO UPDATE SET flagged_by = excluded.flagged_by, reason = excluded.reason,
                                                   created_at = excluded.created_at""",
            {
                "t": task_id,
                "c": task["customer_id"],
                "p": task["playbook"],
                "me": person.username,
                "reason": reason,
                "now": now,
            },
        )
        write_audit(wh, person.username, task_id, "flag", {"reason_chars": len(reason)}, now)


def reassign(wh: Warehouse, person: Person, task_id: str, assignee: str, now: datetime) -> None:
    """Give the task to another active person (of the same team, unless an admin reassigns)."""
    target = get_person(wh, assignee)
    if target is None or not target.active or target.role == "admin":
        raise DeskError(f"{assignee!r} is not an active agent or lead of the desk")
    if person.role != "admin" and target.team != person.team:
        raise DeskError(f"{assignee!r} is not in your team")
    with wh.transaction():
        task = get_task(wh, person, task_id)
        _require_open(task)
        wh.execute(
            "UPDATE cs_tasks SET assignee = :a, updated_at = :now WHERE task_id = :t",
            {"a": assignee, "now": now, "t": task_id},
        )
        write_audit(wh, person.username, task_id, "reassign", {"from": task["assignee"], "to": assignee}, now)


def snooze(wh: Warehouse, person: Person, task_id: str, until: date, reason: str, now: datetime) -> None:
    """Hide the task from the queue until ``until`` (a later day), with a reason."""
    with wh.transaction():
        task = get_task(wh, person, task_id)
        _require_open(task)
        wh.execute(
            "UPDATE cs_tasks SET snoozed_until = :u, snooze_reason = :r, updated_at = :now WHERE task_id = :t",
            {"u": until, "r": reason, "now": now, "t": task_id},
        )
        write_audit(
            wh, person.username, task_id, "snooze", {"until": until, "reason_chars": len(reason)}, now
        )
