"""``run_outreach``: the day's outreach, from scores to sent emails, as thin wiring.

Scores -> playbooks -> contact policy -> decisions + ledger (one transaction) -> CS tasks -> render -> deliver ->
summary, over the pure modules and the edges (decisions, ledger, delivery).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pandas as pd

from proactive_ml.delivery import EmailSender
from proactive_ml.outreach.decisions import recent_contacts, record_decisions
from proactive_ml.outreach.dispatch import deliver_pending
from proactive_ml.outreach.inputs import desk_people, load_candidates
from proactive_ml.outreach.playbooks import PlaybookConfig, load_playbooks
from proactive_ml.outreach.quality import without_paused
from proactive_ml.outreach.selection import plan_outreach, policy_params
from proactive_ml.outreach.tasks_csv import export_tasks
from proactive_ml.outreach.template_folder import check_templates, template_folder
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse

log = logging.getLogger(__name__)

BATCH_HOUR_UTC = 14  # a run given only a date runs at 14:00 UTC (daytime in Europe and the Americas)
DELIVERY_KEYS = (
    "sent",
    "dead_lettered",
    "failed",
    "requests",
    "rate_limited",
    "retries",
    "reconciled_accepted",
    "reconciled_released",
    "reconciled_dead_sender",
    "still_sending",
)


def as_of_datetime(as_of: date | datetime) -> datetime:
    """A date means that day's batch at BATCH_HOUR_UTC; a datetime is taken as naive UTC."""
    if isinstance(as_of, datetime):
        return as_of.replace(tzinfo=None)
    return datetime.combine(as_of, time(BATCH_HOUR_UTC))


def run_outreach(
    wh: Warehouse,
    settings: Settings,
    as_of: date | datetime,
    uplift: pd.Series | None = None,
    *,
    config: PlaybookConfig | None = None,
    deliver: bool = True,
    sender: EmailSender | None = None,
    tasks_csv: Path | str | None = None,
    **deliver_kwargs: Any,
) -> dict[str, Any]:
    """Decide, record and send the day's proactive outreach; returns counts.

    Summary keys: decided, treated, held_out, sent, deferred (planned, due later: quiet hours), suppressed (blocked
    by suppression, consent or cancellation), frequency_capped, reconciled_* (rows an earlier, killed or timed-out
    sender left 'sending', resolved against the server before anything is sent: accepted there, or released and
    sent now; reconciled_dead_sender counts those whose sender is known dead), still_sending, over_day_budget (planned but left out: the day's
    budget was already used by an earlier run of the same day), dead_lettered, failed, tasks, paused_playbooks (left
    out: the desk's wrong-suggestion rate is above their ``pause_above``), plus per-step counts.
    ``sender`` defaults to the one the settings choose (:func:`proactive_ml.delivery.sender_from_settings`).
    """
    config = config or load_playbooks(settings.playbooks_file or None)
    check_templates(config, template_folder(settings))  # before anything is decided that could not be sent
    t = as_of_datetime(as_of)
    config, paused = without_paused(wh, config)  # the desk's "suggestion was wrong" flags (pause_above)
    summary = decide_and_record(wh, settings, t, uplift, config, now=deliver_kwargs.get("clock", _utcnow)())
    if summary.get("scored") and not summary.get("matched"):
        _say_why_nobody_matched(wh, settings)
    summary["paused_playbooks"] = paused
    summary.update(export_day_tasks(wh, settings, t.date(), tasks_csv))
    sent: dict[str, int] = {}
    if deliver:
        sent = deliver_pending(wh, settings, now=t, config=config, sender=sender, **deliver_kwargs)
    summary.update({k: sent.get(k, 0) for k in DELIVERY_KEYS})
    summary["deferred"] = int(
        wh.scalar("SELECT count(*) FROM send_ledger WHERE state = 'planned' AND send_at > :t", {"t": t}) or 0
    )
    return summary


def decide_and_record(
    wh: Warehouse,
    settings: Settings,
    t: datetime,
    uplift: pd.Series | None,
    config: PlaybookConfig,
    *,
    now: datetime,
) -> dict[str, Any]:
    """Plan the day's outreach and record decisions, ledger rows and CS tasks in one transaction; the counts."""
    params = policy_params(settings)
    frame = load_candidates(wh, t)
    supp = wh.query("SELECT email_sha256, customer_id FROM suppressions")
    recent = recent_contacts(wh, t.date(), params.cap_days)
    decisions, counts = plan_outreach(
        frame,
        config,
        as_of=t,
        params=params,
        suppressed_hashes=set(supp["email_sha256"].astype(str)),
        suppressed_customers=set(supp["customer_id"].dropna().astype(str)),
        recent_contacts=recent,
        uplift=uplift,
        people=desk_people(wh),
    )
    written = record_decisions(
        wh,
        decisions,
        now=now,
        cap_days=params.cap_days,
        guidance={p.name: p.guidance or "" for p in config.playbooks},
        priorities={p.name: p.priority for p in config.playbooks},
        daily_budget=params.daily_budget,
        max_tasks=config.selection.max_tasks_per_day,
    )
    summary: dict[str, Any] = {"as_of": t.isoformat(), **counts}
    summary["unassigned_tasks"] = _unassigned(decisions)
    summary["suppressed"] = counts["suppressed"] + counts["no_consent"] + counts["cancelled"]
    summary["over_day_budget"] = written.pop("over_day_budget", 0)
    summary["recorded"] = written
    return summary


def _say_why_nobody_matched(wh: Warehouse, settings: Settings) -> None:
    """Customers are scored but no playbook matched any: say which data the rules may be waiting for, and the fix."""
    empty = [name for name in ("usage_events", "tickets", "feedback") if not wh.row_count(name)]
    lacking = f" The warehouse has no {', '.join(empty)}: a rule on them matches nobody." if empty else ""
    log.warning(
        "No customer matched any playbook of %s.%s Write rules on what your data has (the churn score alone is "
        "enough for a staff task; examples/telco/playbooks.yaml) and set PROACTIVE_PLAYBOOKS_FILE: "
        "docs/bring-your-own-data.md.",
        settings.playbooks_file or "models/playbooks.yaml",
        lacking,
    )


def _unassigned(decisions: pd.DataFrame) -> int:
    """How many CS tasks were decided with nobody on the desk to work them (said once, with the fix)."""
    tasks = decisions[(decisions["action"] == "cs_task") & (decisions["arm"] == "treatment")]
    n = int(tasks["assignee"].isna().sum())
    if n:
        log.warning(
            "%d CS task(s) have nobody to work them: nobody is on the desk yet. Add people with "
            "`proactive-ml desk add-user`; a lead or an admin then hands these out in the desk.",
            n,
        )
    return n


def export_day_tasks(
    wh: Warehouse, settings: Settings, day: date, tasks_csv: Path | str | None
) -> dict[str, Any]:
    """The day's CS task count, and the CSV they were exported to when there are any."""
    n = int(wh.scalar("SELECT count(*) FROM cs_tasks WHERE as_of = :d", {"d": day}) or 0)
    if not n:
        return {"tasks": 0}
    out = Path(tasks_csv) if tasks_csv else settings.reports_dir / f"cs_tasks_{day}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    export_tasks(wh, str(out), day)
    return {"tasks": n, "tasks_csv": str(out)}


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
