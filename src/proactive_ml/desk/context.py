"""What a person needs to know about a customer before calling: account, tickets, surveys, a usage chart.

The usage chart covers the last weeks as inline SVG, so the page needs no network and no script.

Only read behind login, for a task the person may see. Values are handed to the templates as they are: Jinja's
autoescape makes every customer-written text (names, subjects, comments) inert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from proactive_ml.warehouse import Warehouse

CHART_WEEKS = 12
LAST_ITEMS = 5
PHONE_ATTRIBUTES = ("phone", "phone_number", "telephone", "mobile")
CHART_WIDTH, CHART_HEIGHT = 360, 80


@dataclass(frozen=True)
class Bar:
    """One week of the usage chart, in SVG coordinates."""

    x: float
    y: float
    width: float
    height: float
    label: str
    count: int


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if v is None or (not isinstance(v, str) and pd.isna(v)) else v) for k, v in row.items()}


def usage_bars(weekly: list[int], week_starts: list[str]) -> list[Bar]:
    """Bars of a weekly usage chart (pure): the tallest week fills the chart, an empty week is a 1 px line."""
    top = max(weekly, default=0) or 1
    slot = CHART_WIDTH / max(len(weekly), 1)
    bars = []
    for i, (n, label) in enumerate(zip(weekly, week_starts, strict=True)):
        h = max(1.0, (CHART_HEIGHT - 14) * n / top)
        bars.append(
            Bar(
                round(i * slot + 2, 1),
                round(CHART_HEIGHT - 12 - h, 1),
                round(slot - 4, 1),
                round(h, 1),
                label,
                n,
            )
        )
    return bars


def _weekly_usage(wh: Warehouse, customer_id: str, now: datetime) -> list[Bar]:
    start = (now - timedelta(days=7 * CHART_WEEKS)).replace(hour=0, minute=0, second=0, microsecond=0)
    df = wh.query(
        "SELECT ts FROM usage_events WHERE customer_id = :c AND ts >= :start AND ts < :now",
        {"c": customer_id, "start": start, "now": now},
    )
    days = (pd.to_datetime(df["ts"]) - pd.Timestamp(start)).dt.days if not df.empty else pd.Series(dtype=int)
    weeks = (days // 7).clip(0, CHART_WEEKS - 1).value_counts()
    counts = [int(weeks.get(i, 0)) for i in range(CHART_WEEKS)]
    labels = [(start + timedelta(days=7 * i)).strftime("%d %b") for i in range(CHART_WEEKS)]
    return usage_bars(counts, labels)


def _phone(wh: Warehouse, customer_id: str) -> str | None:
    df = wh.query(
        "SELECT name, value_text FROM customer_attributes WHERE customer_id = :c AND value_text IS NOT NULL "
        "ORDER BY updated_at DESC",
        {"c": customer_id},
    )
    hit = df[df["name"].astype(str).str.lower().isin(PHONE_ATTRIBUTES)]
    return None if hit.empty else str(hit.iloc[0]["value_text"])


def customer_context(wh: Warehouse, customer_id: str, now: datetime) -> dict[str, Any]:
    """The account, its last tickets and survey answers, and its weekly usage bars, as of ``now``.

    ``usage_ever`` says whether the customer has any usage event before ``now``: twelve empty weeks mean silence
    only for a customer whose usage the company records (a CRM snapshot or a shop without events has none).
    """
    c = wh.query("SELECT * FROM customers WHERE customer_id = :c", {"c": customer_id})
    account = (
        _clean(c.iloc[-1].to_dict())
        if not c.empty
        else {**dict.fromkeys(c.columns), "customer_id": customer_id}
    )
    tickets = wh.query(
        f"""SELECT opened_at, closed_at, status, priority, category, subject FROM tickets
            WHERE customer_id = :c AND opened_at < :now ORDER BY opened_at DESC LIMIT {LAST_ITEMS}""",
        {"c": customer_id, "now": now},
    )
    feedback = wh.query(
        f"""SELECT ts, survey_type, score, comment FROM feedback WHERE customer_id = :c AND ts < :now
            ORDER BY ts DESC LIMIT {LAST_ITEMS}""",
        {"c": customer_id, "now": now},
    )
    return {
        "account": account,
        "phone": _phone(wh, customer_id),
        "tickets": [_clean(r) for r in tickets.to_dict("records")],
        "feedback": [_clean(r) for r in feedback.to_dict("records")],
        "usage": _weekly_usage(wh, customer_id, now),
        "usage_ever": bool(
            wh.scalar(
                "SELECT EXISTS (SELECT 1 FROM usage_events WHERE customer_id = :c AND ts < :now)",
                {"c": customer_id, "now": now},
            )
        ),
        "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT, "weeks": CHART_WEEKS},
    }


def staff_reasons(reasons: str | None) -> list[str]:
    """The model's reasons for this task in staff words (stored pipe-separated on the task)."""
    return [r.strip().replace("_", " ") for r in str(reasons or "").split("|") if r.strip()]
