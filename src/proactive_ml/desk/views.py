"""Small pure helpers of the desk's pages: Jinja filters for numbers and dates, and form fields read strictly.

A form value that is missing, too long or of the wrong shape is a :class:`~proactive_ml.desk.tasks.DeskError`
(400) whose message names the field, so the page can say what to fix.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import pandas as pd
from starlette.datastructures import FormData

from proactive_ml.desk.tasks import DeskError

MAX_TEXT = 2000


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def money(value: Any) -> str:
    """12345.6 -> '12,346' ('' when unknown)."""
    return "" if _missing(value) else f"{float(value):,.0f}"


def number(value: Any, digits: int = 1) -> str:
    """A number with a few digits ('' when unknown)."""
    return "" if _missing(value) else f"{float(value):,.{digits}f}"


def percent(value: Any, digits: int = 1) -> str:
    """0.123 -> '12.3%' ('' when unknown)."""
    if _missing(value) or not math.isfinite(float(value)):
        return ""
    return f"{100 * float(value):.{digits}f}%"


def signed_points(value: Any) -> str:
    """A retention difference in percentage points: 0.031 -> '+3.1 pt' ('' when unknown)."""
    if _missing(value) or not math.isfinite(float(value)):
        return ""
    return f"{100 * float(value):+.1f} pt"


def day(value: Any) -> str:
    """A date or time as 2026-12-01 ('' when unknown)."""
    if _missing(value):
        return ""
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def minute(value: Any) -> str:
    """A time as 2026-12-01 14:05 ('' when unknown)."""
    if _missing(value):
        return ""
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


FILTERS = {
    "money": money,
    "number": number,
    "percent": percent,
    "points": signed_points,
    "day": day,
    "minute": minute,
}


def text_field(form: FormData, name: str, *, required: bool = False, limit: int = MAX_TEXT) -> str:
    """A text field, trimmed; DeskError when required and empty, or longer than ``limit``."""
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise DeskError(f"{name.replace('_', ' ')}: please fill it in")
    if len(text) > limit:
        raise DeskError(f"{name.replace('_', ' ')}: at most {limit} characters")
    return text


def choice_field(
    form: FormData, name: str, choices: tuple[str, ...] | list[str], *, required: bool = True
) -> str:
    """One of ``choices`` ('' allowed when not required)."""
    text = text_field(form, name, required=required, limit=100)
    if text and text not in choices or (required and not text):
        raise DeskError(f"{name.replace('_', ' ')}: choose one of {', '.join(c for c in choices if c)}")
    return text


def number_field(form: FormData, name: str, *, required: bool = False) -> float | None:
    """A number >= 0 (None when empty and not required)."""
    text = text_field(form, name, required=required, limit=30)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise DeskError(f"{name.replace('_', ' ')}: {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise DeskError(f"{name.replace('_', ' ')}: a number of 0 or more")
    return value


def date_field(form: FormData, name: str, *, after: date, within_days: int = 90) -> date:
    """An ISO date after ``after`` and at most ``within_days`` later."""
    text = text_field(form, name, required=True, limit=30)
    try:
        value = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise DeskError(f"{name}: a date as YYYY-MM-DD, got {text!r}") from None
    if value <= after or (value - after).days > within_days:
        raise DeskError(f"{name}: a day after {after.isoformat()} and within {within_days} days")
    return value
