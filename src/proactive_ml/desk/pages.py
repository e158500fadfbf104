"""The desk's pages and forms. The route contract (the simulated employees drive exactly these) is :data:`ROUTES`.

Every handler gets the logged-in person (the wrapper in :mod:`proactive_ml.desk.app` has checked the session and,
for a POST, the CSRF token) and reads or changes the warehouse only through :mod:`proactive_ml.desk.tasks`, which
decides what this person may see. A refused form re-renders the task with its message and a 400 (409 when the
task was closed meanwhile), so nobody loses what they typed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from proactive_ml.desk import tasks
from proactive_ml.desk.accounts import Person, list_people
from proactive_ml.desk.app import Desk
from proactive_ml.desk.context import customer_context, staff_reasons
from proactive_ml.desk.flags import flag_rates, recent_flags
from proactive_ml.desk.tasks import OUTCOMES, DeskError, Forbidden, Outcome
from proactive_ml.desk.views import choice_field, date_field, number_field, text_field
from proactive_ml.outreach.authority import Authority
from proactive_ml.outreach.quality import MIN_WORKED, paused_playbooks

PREFILL_KEYS = ("outcome", "offer", "offer_value", "offer_accepted", "notes")  # a refused form keeps these


def _redirect(url: str, request: Request | None = None, flash: str | None = None) -> Response:
    if request is not None and flash:
        request.session["flash"] = flash
    return RedirectResponse(url, status_code=303)


async def home(request: Request, desk: Desk, person: Person, form: FormData | None) -> Response:
    """GET /: the queue."""
    return _redirect("/queue")


async def queue_page(request: Request, desk: Desk, person: Person, form: FormData | None) -> Response:
    """GET /queue: my open tasks (``?scope=team``: all I may see), best expected value first, then due date."""
    scope = "team" if request.query_params.get("scope") == "team" and person.role != "agent" else "mine"
    rows = tasks.queue(desk.wh, person, desk.today(), scope)
    return desk.render(
        request,
        "queue.html.j2",
        person,
        rows=rows.to_dict("records"),
        scope=scope,
        today=desk.today(),
        unassigned=tasks.unassigned(desk.wh, person, desk.today()),
    )


def _colleagues(desk: Desk, person: Person) -> list[Person]:
    """Who a task may be given to by ``person``: active agents and leads (of the same team, unless admin)."""
    people = [p for p in list_people(desk.wh) if p.active and p.role != "admin"]
    return [p for p in people if person.role == "admin" or p.team == person.team]


def render_task(
    request: Request,
    desk: Desk,
    person: Person,
    task_id: str,
    status: int = 200,
    error: str | None = None,
    prefill: dict[str, Any] | None = None,
) -> Response:
    """The task page: context, reasons, guidance, my authority and every form."""
    task = tasks.get_task(desk.wh, person, task_id)
    authority = desk.authorities.get(task["playbook"], Authority())
    offers = [{"offer": o, "limit": o.limit_for(person.role)} for o in authority.offers]
    flag = desk.wh.query(
        "SELECT reason, flagged_by, created_at FROM desk_flags WHERE task_id = :t", {"t": task_id}
    )
    return desk.render(
        request,
        "task.html.j2",
        person,
        status,
        task=task,
        ctx=customer_context(desk.wh, str(task["customer_id"]), desk.now()),
        reasons=staff_reasons(task.get("reasons")),
        offers=offers,
        unknown_playbook=task["playbook"] not in desk.authorities,
        outcomes=OUTCOMES,
        approvals=tasks.task_approvals(desk.wh, task_id).to_dict("records"),
        history=tasks.history(desk.wh, task_id).to_dict("records"),
        flag=None if flag.empty else flag.iloc[0].to_dict(),
        colleagues=_colleagues(desk, person),
        error=error,
        prefill={**dict.fromkeys(PREFILL_KEYS), **(prefill or {})},
        today=desk.today(),
    )


async def task_page(request: Request, desk: Desk, person: Person, form: FormData | None) -> Response:
    """GET /tasks/{task_id}."""
    return render_task(request, desk, person, request.path_params["task_id"])


def _task_form(
    action: Callable[[Desk, Person, str, FormData], str],
    prefill: Callable[[FormData], dict[str, Any]] | None = None,
) -> Callable[..., Any]:
    """A task's POST handler: run ``action``; a refusal re-renders the task with the message and its status."""

    async def handler(request: Request, desk: Desk, person: Person, form: FormData | None) -> Response:
        assert form is not None  # noqa: S101 - the wrapper reads the form of every POST
        task_id = request.path_params["task_id"]
        try:
            message = action(desk, person, task_id, form)
        except DeskError as exc:
            if exc.status not in (400, 409):
                raise
            fill = prefill(form) if prefill else {}
            return render_task(request, desk, person, task_id, exc.status, str(exc), fill)
        target = "/queue" if message.startswith("Closed") else f"/tasks/{task_id}"
        return _redirect(target, request, message)

    return handler


def _outcome(desk: Desk, person: Person, task_id: str, form: FormData) -> str:
    task = tasks.get_task(desk.wh, person, task_id)  # 404 before any field is read
    authority = desk.authorities.get(task["playbook"], Authority())
    result = Outcome(
        outcome=choice_field(form, "outcome", tuple(OUTCOMES)),
        offer=choice_field(form, "offer", [o.name for o in authority.offers], required=False) or None,
        offer_value=number_field(form, "offer_value"),
        offer_accepted=choice_field(form, "offer_accepted", ("yes", "no"), required=False),
        notes=text_field(form, "notes"),
    )
    if result.offer and result.offer_value is None:
        raise DeskError("offer value: say how much was offered (e.g. 15 for 15%)")
    if not result.offer:
        result = Outcome(result.outcome, None, None, "", result.notes)
    tasks.record_outcome(desk.wh, person, task_id, result, authority, desk.now())
    return f"Closed: {OUTCOMES[result.outcome]}."


def _outcome_prefill(form: FormData) -> dict[str, Any]:
    return {k: form.get(k) for k in PREFILL_KEYS}


def _approval(desk: Desk, person: Person, task_id: str, form: FormData) -> str:
    task = tasks.get_task(desk.wh, person, task_id)
    authority = desk.authorities.get(task["playbook"], Authority())
    offer = choice_field(form, "offer", [o.name for o in authority.offers])
    value = number_field(form, "offer_value", required=True)
    assert value is not None  # noqa: S101 - required
    reason = text_field(form, "reason", limit=500)  # kept in the audit trail with the request
    tasks.request_approval(desk.wh, person, task_id, offer, value, authority, desk.now(), reason)
    return "Approval requested: a lead of your team decides it on the approvals page."


def _flag(desk: Desk, person: Person, task_id: str, form: FormData) -> str:
    reason = text_field(form, "reason", required=True, limit=500)
    tasks.flag_task(desk.wh, person, task_id, reason, desk.now())
    return "Thank you: the suggestion is flagged as wrong and goes to the data team."


def _reassign(desk: Desk, person: Person, task_id: str, form: FormData) -> str:
    assignee = text_field(form, "assignee", required=True, limit=60)
    tasks.reassign(desk.wh, person, task_id, assignee, desk.now())
    return f"Reassigned to {assignee}."


def _snooze(desk: Desk, person: Person, task_id: str, form: FormData) -> str:
    until = date_field(form, "until", after=desk.today())
    reason = text_field(form, "reason", required=True, limit=500)
    tasks.snooze(desk.wh, person, task_id, until, reason, desk.now())
    return f"Snoozed until {until.isoformat()}."


async def approvals_page(request: Request, desk: Desk, person: Person, form: FormData | None) -> Response:
    """GET /approvals: leads and admins see their team's pending requests; an agent sees their own requests."""
    pending = tasks.approvals(desk.wh, person, "pending")
    decided = tasks.approvals(desk.wh, person, None)
    decided = decided[decided["state"] != "pending"].head(50)
    reasons = tasks.request_reasons(desk.wh, sorted(set(pending["task_id"].astype(str))))
    return desk.render(
        request,
        "approvals.html.j2",
        person,
        pending=pending.assign(reason=pending["approval_id"].map(reasons).fillna("")).to_dict("records"),
        decided=decided.to_dict("records"),
        may_decide=person.role in ("lead", "admin"),
    )


async def decide_page(request: Request, desk: Desk, person: Person, form: FormData | None) -> Response:
    """POST /approvals/{approval_id}: decision=approve|refuse (a lead of the team or an admin)."""
    assert form is not None  # noqa: S101
    decision = choice_field(form, "decision", ("approve", "refuse"))
    approval_id = request.path_params["approval_id"]
    tasks.decide_approval(desk.wh, person, approval_id, decision == "approve", desk.authorities, desk.now())
    return _redirect("/approvals", request, f"Request {decision}d.")


async def flags_page(request: Request, desk: Desk, person: Person, form: FormData | None) -> Response:
    """GET /flags: the wrong-suggestion rate per playbook and the latest flags (leads, admins)."""
    if person.role == "agent":
        raise Forbidden("the flags page is for leads and the data team")
    cond, params = tasks.visible_sql(person)
    rates = flag_rates(desk.wh)
    return desk.render(
        request,
        "flags.html.j2",
        person,
        rates=rates.to_dict("records"),
        limits={p.name: p.pause_above for p in desk.playbooks.playbooks},
        paused=paused_playbooks(rates, desk.playbooks),
        min_worked=MIN_WORKED,
        flags=recent_flags(desk.wh, cond, params).to_dict("records"),
    )


async def guidelines_page(request: Request, desk: Desk, person: Person, form: FormData | None) -> Response:
    """GET /guidelines: every playbook, its guidance and the authority limits per role."""
    return desk.render(request, "guidelines.html.j2", person, playbooks=desk.playbooks.playbooks)


async def board_page(request: Request, desk: Desk, person: Person, form: FormData | None) -> Response:
    """GET /board: saves credited against the randomized holdout, per person and per playbook, and the stories."""
    from proactive_ml.measurement.credit import credit_board, success_stories

    board = credit_board(desk.wh, desk.today())
    per_playbook = credit_board(desk.wh, desk.today(), by="playbook")
    playbooks = per_playbook.astype(object).where(pd.notna(per_playbook), None).to_dict("records")
    stories = success_stories(desk.wh, desk.today())
    rows = board.astype(object).where(pd.notna(board), None).to_dict("records")
    return desk.render(
        request, "board.html.j2", person, board=rows, playbooks=playbooks, stories=stories, today=desk.today()
    )


ROUTES: list[tuple[str, str, Callable[..., Any]]] = [
    ("GET", "/", home),
    ("GET", "/queue", queue_page),
    ("GET", "/tasks/{task_id}", task_page),
    ("POST", "/tasks/{task_id}/outcome", _task_form(_outcome, _outcome_prefill)),
    ("POST", "/tasks/{task_id}/approval", _task_form(_approval, _outcome_prefill)),
    ("POST", "/tasks/{task_id}/flag", _task_form(_flag)),
    ("POST", "/tasks/{task_id}/reassign", _task_form(_reassign)),
    ("POST", "/tasks/{task_id}/snooze", _task_form(_snooze)),
    ("GET", "/approvals", approvals_page),
    ("POST", "/approvals/{approval_id}", decide_page),
    ("GET", "/flags", flags_page),
    ("GET", "/guidelines", guidelines_page),
    ("GET", "/board", board_page),
]
