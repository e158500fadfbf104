"""Selection: expected value, threshold, daily budget; and the whole decision plan (pure).

Expected value of a contact = risk x customer value - contact cost, with customer value = monthly value x
value horizon (months). The monthly value of a customer (:func:`customer_value`) comes from the data, in this
order: ``monthly_revenue`` when the customer has one; else the trailing average monthly spend from usage event
values (``monthly_spend``, see :mod:`proactive_ml.outreach.inputs`); else the declared
``selection.default_customer_value`` of ``models/playbooks.yaml`` -- so a purchase log without a revenue column
still gets expected values. The feedback loop swaps risk for incremental value by passing ``uplift`` (a Series of
uplift per customer_id, e.g. P(retain | treated) - P(retain | not treated)); customers without an uplift
estimate then get no value (only the cost) and fall below the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from proactive_ml.identity import send_key
from proactive_ml.outreach import exploration
from proactive_ml.outreach.playbooks import PlaybookConfig, match_playbooks
from proactive_ml.outreach.policy import (
    assign_holdout,
    assign_variants,
    assign_workers,
    contact_block_reason,
    frequency_capped,
    normalised_email,
    one_per_address,
    schedule_send_at,
)
from proactive_ml.settings import Settings

DECISION_COLUMNS = [
    "send_key",
    "as_of",
    "customer_id",
    "playbook",
    "action",
    "arm",
    "holdout_kind",
    "score",
    "uplift",
    "expected_value",
    "reasons",
    "send_at",
    "variant",
    "assignee",
    "policy",
    "p_treat",
]


@dataclass(frozen=True)
class PolicyParams:
    """The contact-policy knobs (normally taken from Settings by :func:`policy_params`)."""

    daily_budget: int = 500
    cap_days: int = 14
    holdout_salt: str = "proactive-holdout-v1"
    global_holdout_share: float = 0.05
    playbook_holdout_share: float = 0.10
    quiet_hours_start: int = 21
    quiet_hours_end: int = 8


def policy_params(settings: Settings) -> PolicyParams:
    """PolicyParams from a Settings object."""
    return PolicyParams(
        daily_budget=settings.daily_budget,  # type: ignore[attr-defined]
        cap_days=settings.frequency_cap_days,  # type: ignore[attr-defined]
        holdout_salt=settings.holdout_salt,  # type: ignore[attr-defined]
        global_holdout_share=settings.global_holdout_share,  # type: ignore[attr-defined]
        playbook_holdout_share=settings.playbook_holdout_share,  # type: ignore[attr-defined]
        quiet_hours_start=settings.quiet_hours_start,  # type: ignore[attr-defined]
        quiet_hours_end=settings.quiet_hours_end,  # type: ignore[attr-defined]
    )


def customer_value(frame: pd.DataFrame, default: float) -> pd.Series:
    """Monthly value per row: monthly_revenue, else monthly_spend, else ``default`` (never negative)."""
    nan = pd.Series(np.nan, index=frame.index, dtype=float)
    revenue = pd.to_numeric(frame.get("monthly_revenue", nan), errors="coerce")
    spend = pd.to_numeric(frame.get("monthly_spend", nan), errors="coerce")
    return revenue.fillna(spend).fillna(float(default)).clip(lower=0.0).astype(float)


def expected_value(
    frame: pd.DataFrame, config: PlaybookConfig, uplift: pd.Series | None = None
) -> pd.DataFrame:
    """Adds columns customer_value, uplift (or NaN) and expected_value = (uplift or risk) x value x horizon - cost."""
    sel = config.selection
    out = frame.copy()
    out["customer_value"] = revenue = customer_value(out, sel.default_customer_value)
    cost = np.where(out["action"] == "cs_task", sel.task_cost, sel.contact_cost)
    if uplift is not None:
        u = pd.to_numeric(uplift, errors="coerce")
        u.index = u.index.astype(str)
        out["uplift"] = out["customer_id"].astype(str).map(u).astype(float)
        gain = out["uplift"].fillna(0.0)
    else:
        out["uplift"] = np.nan
        gain = pd.to_numeric(out["score"], errors="coerce").fillna(0.0)
    out["expected_value"] = gain * revenue * sel.value_horizon_months - cost
    return out


def apply_budget(frame: pd.DataFrame, config: PlaybookConfig, daily_budget: int) -> pd.DataFrame:
    """Rows above the threshold, best expected value first, within the day's budgets.

    At most ``daily_budget`` emails and ``max_tasks_per_day`` CS tasks; ties are broken by customer_id, so reruns
    choose the same rows.
    """
    sel = config.selection
    ok = frame[frame["expected_value"] > sel.min_expected_value]
    ok = ok.sort_values(["expected_value", "customer_id"], ascending=[False, True], kind="mergesort")
    emails = ok[ok["action"] == "email"].head(daily_budget)
    tasks = ok[ok["action"] == "cs_task"].head(sel.max_tasks_per_day)
    return pd.concat([emails, tasks]).reset_index(drop=True)


def _recent_emails(recent_contacts: pd.DataFrame | None, as_of: datetime, cap_days: int) -> set[str]:
    """Normalised addresses contacted less than ``cap_days`` away (recent contacts with an ``email`` column)."""
    if recent_contacts is None or recent_contacts.empty or "email" not in recent_contacts.columns:
        return set()
    day = pd.Timestamp(as_of).normalize()
    d = pd.to_datetime(recent_contacts["as_of"])
    near = (d > day - pd.Timedelta(days=cap_days)) & (d < day + pd.Timedelta(days=cap_days))
    return set(normalised_email(recent_contacts.loc[near, "email"])) - {""}


def _keyed_and_scheduled(
    chosen: pd.DataFrame, config: PlaybookConfig, as_of: datetime, params: PolicyParams
) -> pd.DataFrame:
    """The decisions' day, send key, variant, reasons as text and send time (quiet hours for emails)."""
    window = as_of.date()
    chosen["as_of"] = window
    chosen["send_key"] = [
        send_key(c, p, window) for c, p in zip(chosen["customer_id"], chosen["playbook"], strict=False)
    ]
    splits = {p.name: [(v.name, v.weight) for v in p.variants] for p in config.playbooks if p.variants}
    chosen["variant"] = assign_variants(chosen["send_key"], chosen["playbook"], splits, params.holdout_salt)
    chosen["reasons"] = chosen["reasons"].map(lambda rs: "|".join(str(r) for r in (rs or []) if r))
    tz = chosen["timezone"] if "timezone" in chosen.columns else pd.Series("UTC", index=chosen.index)
    send_at = schedule_send_at(as_of, tz, params.quiet_hours_start, params.quiet_hours_end)
    chosen["send_at"] = send_at.where(chosen["action"] == "email", pd.Timestamp(as_of))
    return chosen


def plan_outreach(
    frame: pd.DataFrame,
    config: PlaybookConfig,
    *,
    as_of: datetime,
    params: PolicyParams,
    suppressed_hashes: set[str] | None = None,
    suppressed_customers: set[str] | None = None,
    recent_contacts: pd.DataFrame | None = None,
    uplift: pd.Series | None = None,
    people: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The day's decisions (one per selected customer, treatment or holdout) and counts per step.

    ``frame``: one row per scored customer with customer_id, email, marketing_consent, cancelled_at, timezone,
    monthly_revenue (and optionally monthly_spend), plan, score, reasons (list of codes) and the signal columns
    (and optionally the account's ``owner``). ``people``: the desk's people (username, display_name, role, active)
    among whom CS tasks are assigned (:func:`~proactive_ml.outreach.policy.assign_workers`).
    """
    counts: dict[str, int] = {"scored": len(frame)}
    matched = match_playbooks(frame, config)
    counts["matched"] = len(matched)
    block = contact_block_reason(matched, suppressed_hashes or set(), suppressed_customers or set(), as_of)
    for r in ("suppressed", "no_consent", "cancelled", "no_email"):
        counts[r] = int((block == r).sum())
    allowed = matched[block == ""]
    capped = frequency_capped(allowed["customer_id"], recent_contacts, as_of, params.cap_days)
    counts["frequency_capped"] = int(capped.sum())
    allowed = allowed[~capped.to_numpy()]
    allowed = allowed.sort_values(
        ["priority", "score", "customer_id"], ascending=[True, False, True], kind="mergesort"
    )
    merged = one_per_address(allowed, _recent_emails(recent_contacts, as_of, params.cap_days))
    counts["merged_same_address"] = int(merged.sum())
    allowed = allowed[~merged.to_numpy()]
    valued = expected_value(allowed, config, uplift)
    slots = exploration.exploration_slots(config, params.daily_budget)
    chosen = apply_budget(valued, config, params.daily_budget - slots)
    chosen = exploration.add_exploration(
        valued,
        chosen,
        slots,
        salt=params.holdout_salt,
        as_of=as_of,
        policy="uplift" if uplift is not None else "risk",
    )
    counts["explored"] = int((chosen["policy"] == exploration.EXPLORE).sum())
    counts["below_threshold_or_budget"] = len(valued) - len(chosen)
    chosen["assignee"] = assign_workers(chosen, people, params.holdout_salt)  # before the draw: both arms
    chosen = assign_holdout(
        chosen, params.holdout_salt, params.global_holdout_share, params.playbook_holdout_share
    )
    chosen["p_treat"] = exploration.treat_probability(
        chosen, params.global_holdout_share, params.playbook_holdout_share
    )
    chosen = _keyed_and_scheduled(chosen, config, as_of, params)
    counts["decided"] = len(chosen)
    counts["treated"] = int((chosen["arm"] == "treatment").sum())
    counts["held_out"] = int((chosen["arm"] == "holdout").sum())
    return chosen[DECISION_COLUMNS].reset_index(drop=True), counts
