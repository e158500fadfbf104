"""The report's words: a plain-language headline and impact tables with human column names (pure functions).

The headline reads the overall row at the longest horizon measured. When the 95% interval covers zero it says
so ("not yet distinguishable from no effect") and estimates how many more weeks of holdout would make an effect
of the size seen so far distinguishable: the interval's half-width shrinks as ``1 / sqrt(n)``, so it needs
``(half-width / |difference|)^2`` times the customers measured so far, arriving at the same pace as up to now.
It also gives the always-valid interval (:func:`proactive_ml.measurement.intervals.always_valid_interval`),
the one to trust when the report is read every day.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from proactive_ml.measurement.intervals import always_valid_interval

OUTCOME_NAMES = {"need_30d": "Needed help within 30 days"}
#: beyond this many more weeks the headline says the holdout is too small instead of giving a number
MAX_WEEKS = 104


def outcome_name(code: str) -> str:
    """``retained_60d`` -> "Still a customer after 60 days"."""
    if code in OUTCOME_NAMES:
        return OUTCOME_NAMES[code]
    if code.startswith("retained_"):
        return f"Still a customer after {code.split('_')[1][:-1]} days"
    return code


def weeks_needed(diff: float, low: float, high: float, weeks_so_far: float | None) -> float | None:
    """More weeks of holdout for an effect of size ``diff`` to clear zero (None when it cannot be said).

    Returns 0 when the interval already excludes zero, ``inf`` when the effect seen is too small to ever clear
    zero within :data:`MAX_WEEKS` more weeks at the current pace.
    """
    if low > 0 or high < 0:
        return 0.0
    if weeks_so_far is None or not weeks_so_far > 0 or not math.isfinite(diff):
        return None
    half = (high - diff) if diff > 0 else (diff - low)
    if abs(diff) < 1e-12:
        return math.inf
    more = weeks_so_far * ((half / abs(diff)) ** 2 - 1)
    return math.inf if more > MAX_WEEKS else max(1.0, math.ceil(more))


def headline_text(row: pd.Series, weeks_so_far: float | None = None) -> str:
    """The headline sentence(s) for one impact row (plain text, to be escaped by the caller)."""
    days = row["outcome"].split("_")[1][:-1]
    n_t, n_h = int(row["n_treated"]), int(row["n_holdout"])
    kept, lo, hi = row["kept"], row["kept_low"], row["kept_high"]
    facts = (
        f"{n_t:,} customers contacted, {n_h:,} held out at random; still customers after {days} days: "
        f"{row['rate_treated']:.1%} of those contacted vs {row['rate_holdout']:.1%} of those held out."
    )
    if lo > 0:
        lead = (
            f"After {days} days the outreach had kept about {kept:.0f} more customers ({lo:.0f} to {hi:.0f}, "
            "95% interval): a measured win."
        )
    elif hi < 0:
        lead = (
            f"After {days} days the outreach had lost about {-kept:.0f} customers ({-hi:.0f} to {-lo:.0f}, "
            "95% interval): investigate."
        )
    else:
        lead = (
            f"Not yet distinguishable from no effect after {days} days: somewhere between {-lo:.0f} fewer and {hi:.0f} more "
            f"customers kept (95% interval; best estimate {kept:+.0f})."
        )
        more = weeks_needed(row["diff"], row["ci_low"], row["ci_high"], weeks_so_far)
        if more is not None and math.isinf(more):
            lead += " The difference so far is too small to tell apart from zero with this holdout; a larger one is needed."
        elif more:
            lead += f" About {more:.0f} more weeks of holdout needed if the effect stays this size."
    _, a_lo, a_hi = always_valid_interval(row["rate_treated"] * n_t, n_t, row["rate_holdout"] * n_h, n_h)
    daily = (
        f"Read every day? The interval safe for daily looks is {a_lo * 100:+.1f} to {a_hi * 100:+.1f} points "
        f"of retention ({a_lo * n_t:+.0f} to {a_hi * n_t:+.0f} customers)."
    )
    return f"{lead} {facts} {daily}"


def display_impact(impact: pd.DataFrame) -> pd.DataFrame:
    """The impact table with human column names, rates in percent and intervals as ranges (strings)."""
    if impact.empty:
        return impact

    def pts(v: float) -> str:
        return "" if pd.isna(v) else f"{v * 100:+.1f}"

    def num(v: float) -> str:
        return "" if pd.isna(v) else f"{v:+.0f}"

    out = pd.DataFrame(
        {
            "Playbook": impact["playbook"].replace({"ALL": "All playbooks"}),
            "Outcome": impact["outcome"].map(outcome_name),
            "Contacted": impact["n_treated"].map(lambda v: f"{int(v):,}"),
            "Held out": impact["n_holdout"].map(lambda v: f"{int(v):,}"),
            "Rate, contacted": impact["rate_treated"].map(lambda v: f"{v:.1%}"),
            "Rate, held out": impact["rate_holdout"].map(lambda v: f"{v:.1%}"),
            "Difference (points)": impact["diff"].map(pts),
            "95% interval (points)": [
                f"{pts(a)} to {pts(b)}" for a, b in zip(impact["ci_low"], impact["ci_high"], strict=True)
            ],
            "Customers kept": impact["kept"].map(num),
            "95% interval (customers)": [
                "" if pd.isna(a) else f"{num(a)} to {num(b)}"
                for a, b in zip(impact["kept_low"], impact["kept_high"], strict=True)
            ],
        }
    )
    return out


def display_adjusted(impact: pd.DataFrame) -> pd.DataFrame:
    """Plain vs regression-adjusted difference per outcome (points, with 95% intervals) and the width ratio."""
    if impact.empty or "adj_diff" not in impact.columns or impact["adj_diff"].isna().all():
        return pd.DataFrame()
    rows = impact[impact["adj_diff"].notna()]

    def rng(d: float, a: float, b: float) -> str:
        return f"{d * 100:+.1f} ({a * 100:+.1f} to {b * 100:+.1f})"

    return pd.DataFrame(
        {
            "Playbook": rows["playbook"].replace({"ALL": "All playbooks"}),
            "Outcome": rows["outcome"].map(outcome_name),
            "Plain difference, points (95% interval)": [
                rng(*v) for v in zip(rows["diff"], rows["ci_low"], rows["ci_high"], strict=True)
            ],
            "Adjusted for churn score and usage": [
                rng(*v) for v in zip(rows["adj_diff"], rows["adj_low"], rows["adj_high"], strict=True)
            ],
            "Interval width, adjusted / plain": rows["width_ratio"].map(lambda v: f"{v:.0%}"),
        }
    )


def display_leaderboard(lead: pd.DataFrame) -> pd.DataFrame:
    """The playbook leaderboard with human column names; rate differences in points (strings)."""
    if lead.empty:
        return lead
    out = pd.DataFrame({"Playbook": lead["playbook"]})
    out["Contacted"] = lead["n_treated"].map(lambda v: "" if pd.isna(v) else f"{int(v):,}")
    out["Held out"] = lead["n_holdout"].map(lambda v: "" if pd.isna(v) else f"{int(v):,}")
    out["Customers kept (95% interval)"] = [
        "" if pd.isna(k) else f"{k:+.0f} ({a:+.0f} to {b:+.0f})"
        for k, a, b in zip(lead["kept"], lead["kept_low"], lead["kept_high"], strict=True)
    ]
    for col in (c for c in lead.columns if c.startswith(("retained_", "need_"))):
        out[f"{outcome_name(col)} (points)"] = lead[col].map(
            lambda v: "" if pd.isna(v) else f"{v * 100:+.1f}"
        )
    return out


def _shown(spec: str) -> Callable[[Any], str]:
    """A cell formatter: ``format(value, spec)``, empty for a missing value."""
    return lambda v: "" if v is None or pd.isna(v) else format(float(v), spec)


_pct, _count, _mean = _shown(".1%"), _shown(",.0f"), _shown(".2f")


def display_variants(variants: pd.DataFrame) -> pd.DataFrame:
    """The variants table (:func:`~.variants.variant_table`) with human column names and rates in percent."""
    if variants is None or variants.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "Playbook": variants["playbook"],
            "Variant": variants["variant"],
            "Outcome": variants["outcome"].map(outcome_name),
            "Contacted": variants["n_treated"].map(_count),
            "Held out": variants["n_holdout"].map(_count),
            "Rate, contacted": variants["rate_treated"].map(_pct),
            "Rate, held out": variants["rate_holdout"].map(_pct),
            "Difference, points (95% interval)": [
                "" if pd.isna(d) else f"{d * 100:+.1f} ({a * 100:+.1f} to {b * 100:+.1f})"
                for d, a, b in zip(variants["diff"], variants["ci_low"], variants["ci_high"], strict=True)
            ],
            "Emails sent": variants["sent"].map(_count),
            "Replied": variants["reply"].map(_pct),
            "Unsubscribed": variants["unsubscribe"].map(_pct),
        }
    )


def display_rates(rates: pd.DataFrame) -> pd.DataFrame:
    """Response rates per playbook (:func:`~proactive_ml.responses.processing.response_rates`), in words."""
    if rates is None or rates.empty:
        return pd.DataFrame()
    out = pd.DataFrame({"Playbook": rates["playbook"]})
    for col, name, fmt in (
        ("sent", "Emails sent", _count),
        ("delivered", "Delivered", _pct),
        ("open", "Opened", _pct),
        ("click", "Clicked", _pct),
        ("reply", "Replied", _pct),
        ("unsubscribe", "Unsubscribed", _pct),
        ("csat_mean", "Average rating (1–5)", _mean),
        ("ratings", "Ratings", _count),
    ):
        if col in rates.columns:  # the columns that were measured
            out[name] = rates[col].map(fmt)
    return out


def display_tasks(tasks: pd.DataFrame) -> pd.DataFrame:
    """Customer-success tasks per playbook and state, with the 30-day retention of their customers, in words."""
    if tasks is None or tasks.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "Playbook": tasks["playbook"],
            "State": tasks["state"].map(lambda s: str(s).replace("_", " ").capitalize()),
            "Tasks": tasks["tasks"].map(_count),
            "Still a customer after 30 days": tasks["retained_30d"].map(_pct),
        }
    )
