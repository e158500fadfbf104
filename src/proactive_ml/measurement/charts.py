"""The report's charts, shared by the HTML page and the MLflow impact run (pure: frames in, figures out).

- :func:`weekly_table`: the headline difference (contacted minus held out, overall) per week of decision with its
  95% interval (:func:`~.intervals.diff_ci`): does the effect hold week after week, or did one week make it?
- :func:`make_figures`: customers kept per playbook, the weekly trend, the measured history, response rates.
- :func:`policy_figure`: customers kept per 100 emails under each targeting policy (the policy check).
  Sized for a page read at 1280 px: 9.4 x 100 dpi = 940 px wide (the page's column is 960 px, so never scaled
  down), 11 pt text, plain-language labels, no codes.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.dates import ConciseDateFormatter
from matplotlib.figure import Figure

from proactive_ml.features import outcomes
from proactive_ml.measurement.headline import outcome_name
from proactive_ml.measurement.intervals import diff_ci

WIDTH_IN = 9.4
DPI = 100
STYLE: Any = {"font.size": 11, "axes.titlesize": 12, "axes.spines.top": False, "axes.spines.right": False}
WIN, LOSS, UNSURE = "#2e7d32", "#c62828", "#757575"
WEEKLY_COLUMNS = ["week", "n_treated", "n_holdout", "diff", "ci_low", "ci_high"]


def headline_outcome(impact: pd.DataFrame) -> str | None:
    """The outcome the headline reads: overall retention at the longest horizon measured (None: none yet)."""
    overall = impact[(impact["playbook"] == "ALL") & impact["outcome"].str.startswith("retained")]
    return None if overall.empty else str(overall.iloc[-1]["outcome"])


def weekly_table(frame: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Per week of decision (Monday): treated vs holdout on ``outcome``, first decision per customer, with CI.

    ``frame``: :func:`~.impact.outcomes_frame` rows. Weeks with fewer than 2 known outcomes in an arm are left out.
    """
    if frame.empty or outcome not in frame.columns:
        return pd.DataFrame(columns=WEEKLY_COLUMNS)
    rows = outcomes.first_per_customer(frame)
    rows = rows[rows[outcome].notna()]
    week = pd.to_datetime(rows["decided"]).dt.to_period("W-SUN").dt.start_time
    out = []
    for w, g in rows.groupby(week, sort=True):
        a = g.loc[g["arm"] == outcomes.TREATMENT, outcome].to_numpy(float)
        b = g.loc[g["arm"] == outcomes.HOLDOUT, outcome].to_numpy(float)
        if len(a) >= 2 and len(b) >= 2:
            out.append([pd.Timestamp(w).date(), len(a), len(b), *diff_ci(a, b)])
    return pd.DataFrame(out, columns=WEEKLY_COLUMNS)


def _color(low: float, high: float) -> str:
    return WIN if low > 0 else (LOSS if high < 0 else UNSURE)


def _figure(height: float) -> tuple[Figure, Any]:
    fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI, layout="constrained")
    return fig, fig.subplots()


def kept_figure(impact: pd.DataFrame) -> Figure | None:
    """Customers kept per playbook at the headline horizon, with 95% intervals (green: a measured win)."""
    outcome = headline_outcome(impact)
    k = impact[(impact["outcome"] == outcome) & impact["kept"].notna()].sort_values("kept")
    if outcome is None or k.empty:
        return None
    fig, ax = _figure(1.4 + 0.45 * len(k))
    labels = k["playbook"].replace({"ALL": "All playbooks"})
    err = [k["kept"] - k["kept_low"], k["kept_high"] - k["kept"]]
    colors = [_color(lo, hi) for lo, hi in zip(k["kept_low"], k["kept_high"], strict=True)]
    ax.barh(labels, k["kept"], xerr=err, color=colors, capsize=4)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("Customers kept by the outreach (contacted vs held out; bars: 95% interval)")
    ax.set_title(f"{outcome_name(outcome)}: customers kept per playbook")
    return fig


def trend_figure(weekly: pd.DataFrame, outcome: str) -> Figure | None:
    """The headline difference per week of decision, in points, with its 95% interval."""
    if weekly.empty:
        return None
    fig, ax = _figure(3.6)
    x = pd.to_datetime(weekly["week"])
    d, lo, hi = (weekly[c].to_numpy(float) * 100 for c in ("diff", "ci_low", "ci_high"))
    for xi, di, li, hi_ in zip(x, d, lo, hi, strict=True):
        ax.errorbar([xi], [di], yerr=[[di - li], [hi_ - di]], fmt="o", capsize=4, color=_color(li, hi_))
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylabel("Contacted minus held out (points)")
    ax.set_title(f"{outcome_name(outcome)}, by week of the decision (95% intervals)")
    ax.set_xticks(x)
    ax.set_xticklabels([f"{w:%d %b}" for w in x], rotation=0 if len(x) <= 12 else 45)
    ax.set_xlabel("Week starting")
    return fig


def history_figure(history: pd.DataFrame) -> Figure | None:
    """Customers kept overall as measured on each report date, per horizon, with 95% bands."""
    if history is None or history.empty:
        return None
    h = history[(history["playbook"] == "ALL") & history["outcome"].str.startswith("retained")]
    if h["as_of"].nunique() < 2:
        return None
    fig, ax = _figure(3.6)
    for o, g in h.groupby("outcome"):
        g = g.sort_values("as_of")
        when = pd.to_datetime(g["as_of"])
        ax.plot(when, g["kept"], marker="o", label=outcome_name(str(o)))
        ax.fill_between(when, g["kept_low"], g["kept_high"], alpha=0.15)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylabel("Customers kept (all playbooks)")
    ax.set_title("As measured on each report date")
    ax.xaxis.set_major_formatter(ConciseDateFormatter(ax.xaxis.get_major_locator()))
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the plot, never over it
    return fig


def rates_figure(rates: pd.DataFrame) -> Figure | None:
    """Open, click, reply and unsubscribe rates per playbook, in % of sent emails (None before any response)."""
    cols = [c for c in ("open", "click", "reply", "unsubscribe") if c in rates.columns]
    if rates is None or rates.empty or not cols:
        return None
    data = rates.set_index("playbook")[cols].astype(float) * 100
    if not (data.fillna(0) > 0).any().any():
        return None  # emails sent, nothing heard back yet: an empty chart says less than the table
    fig, ax = _figure(3.6)
    width = 0.8 / len(cols)
    pos = np.arange(len(data))
    for i, c in enumerate(cols):
        ax.bar(pos + i * width, data[c].to_numpy(), width, label=c.capitalize())
    ax.set_xticks(pos + width * (len(cols) - 1) / 2)
    ax.set_xticklabels(data.index)
    ax.set_ylabel("% of sent emails")
    ax.legend(frameon=False, ncols=len(cols))
    return fig


def make_figures(
    impact: pd.DataFrame, history: pd.DataFrame, rates: pd.DataFrame, frame: pd.DataFrame | None = None
) -> dict[str, Figure]:
    """All charts by name (``kept``, ``trend``, ``history``, ``rates``); those without data are left out.

    ``frame``: the outcomes frame the impact was measured on (for the weekly trend).
    """
    with matplotlib.rc_context(STYLE):
        outcome = headline_outcome(impact) if len(impact) else None
        weekly = weekly_table(frame, outcome) if frame is not None and outcome else pd.DataFrame()
        figs = {
            "kept": kept_figure(impact) if len(impact) else None,
            "trend": trend_figure(weekly, outcome) if outcome else None,
            "history": history_figure(history),
            "rates": rates_figure(rates) if rates is not None else None,
        }
    return {k: v for k, v in figs.items() if v is not None}


def png_data_url(fig: Figure) -> str:
    """The figure as an embeddable ``data:image/png;base64,...`` URL."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


POLICY_LABELS = {"risk": "Highest churn risk", "uplift": "Highest predicted uplift", "random": "At random"}


def policy_figure(check: dict[str, Any] | None) -> Figure | None:
    """Customers kept per 100 emails under each targeting policy, with 95% intervals (the policy check).

    ``check``: a stored verdict (:func:`~.policy_check.verdict_row`): ``<policy>_value``, ``_low``, ``_high`` as kept
    per email. Drawn top to bottom in the order of :data:`POLICY_LABELS` (barh draws bottom up, hence reversed);
    the policy outreach targets by is drawn dark. None when nothing could be estimated.
    """
    if not check:
        return None
    shown = [p for p in reversed(POLICY_LABELS) if np.isfinite(as_number(check.get(f"{p}_value")))]
    if not shown:
        return None
    v, lo, hi = (
        np.array([as_number(check.get(f"{p}_{k}")) for p in shown]) * 100 for k in ("value", "low", "high")
    )
    with matplotlib.rc_context(STYLE):
        fig, ax = _figure(1.6 + 0.45 * len(shown))
        chosen = str(check.get("targeting") or "")
        colors = ["#1d3557" if p == chosen else "#a8b3c2" for p in shown]
        ax.barh([POLICY_LABELS[p] for p in shown], v, xerr=[v - lo, hi - v], color=colors, capsize=4)
        ax.axvline(0, color="black", lw=0.8)
        n = int(check.get("n_logged") or 0)
        ax.set_xlabel(
            f"Customers kept per 100 emails at the same budget, from {n:,} logged decisions (95% intervals)"
        )
        ax.set_title("Which customers to email: each way of choosing them (dark: the one in use)")
    return fig


def as_number(value: Any) -> float:
    """A stored figure as a float (NaN when missing)."""
    return float("nan") if value is None or pd.isna(value) else float(value)
