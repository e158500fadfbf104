"""The success report: "celebrate the wins, find what to fix" (one self-contained HTML page, plots embedded).

Sections: customers kept by the outreach (incremental, with interval), week by week and its history, with the
regression-adjusted estimate beside the plain one (charts from :mod:`~.charts`, shared with MLflow); the playbook
leaderboard;
response (open/click/reply/unsubscribe) and CSAT rates; customer-success tasks and their outcomes; themes in
negative comments, replies and ticket subjects (a TF-IDF + NMF topic model, with churn per theme); the recognition
board (people credited against their own holdout) and success stories (:mod:`~.recognition`). Aggregates and
masked quotes only: no customer emails, names or ids.

:func:`themes` and :func:`render_html` are pure; :func:`write_report` reads the warehouse and writes the file.
"""

from __future__ import annotations

import html
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from proactive_ml.features import outcomes
from proactive_ml.measurement.charts import make_figures, png_data_url
from proactive_ml.measurement.headline import (
    display_adjusted,
    display_impact,
    display_leaderboard,
    display_rates,
    display_tasks,
    display_variants,
    headline_text,
)
from proactive_ml.measurement.impact import _load as load_impact_inputs
from proactive_ml.measurement.impact import impact_table, outcomes_frame
from proactive_ml.measurement.recognition import recognition_html
from proactive_ml.measurement.themes import fit_themes, theme_churn, theme_trend
from proactive_ml.measurement.variants import variant_inputs, variant_table, with_variants
from proactive_ml.responses.processing import response_rates
from proactive_ml.settings import Settings

THEME_SOURCES = {
    "Negative survey comments (last 90 days)": (
        f"SELECT customer_id, ts, comment AS text FROM feedback WHERE comment IS NOT NULL AND ts >= :s AND ts < :e "
        f"AND {outcomes.DETRACTOR_SQL}"
    ),
    "Replies to our emails (people, not auto-replies)": (
        "SELECT customer_id, received_at AS ts, body_text AS text FROM replies WHERE NOT is_auto AND body_text IS NOT NULL "
        "AND received_at >= :s AND received_at < :e"
    ),
    "Support ticket subjects (last 90 days)": (
        "SELECT customer_id, opened_at AS ts, subject AS text FROM tickets WHERE subject IS NOT NULL AND opened_at >= :s AND opened_at < :e"
    ),
}
THEME_HEADERS = {
    "terms": "Theme (top terms)",
    "texts": "Texts",
    "share": "Share",
    "trend": "Trend (last 4 weeks vs the 4 before)",
    "customers": "Customers who raised it",
    "churn_raised": "Churned if raised",
    "churn_others": "Churned otherwise",
    "extra_churned": "Extra churned",
    "quotes": "Examples (personal data masked)",
}


def themes(
    texts: list[str],
    customer_ids: Any = None,
    churned: pd.Series | None = None,
    dates: Any = None,
    as_of: date | None = None,
) -> pd.DataFrame:
    """Topic-model themes of ``texts`` (see :mod:`proactive_ml.measurement.themes`), ready to show.

    With ``customer_ids`` (aligned with the texts) and ``churned`` (0/1 per customer id, whole population) each
    theme also gets the churn rate of customers who raised it vs the others, and themes are ranked by the
    extra churn; otherwise by size. With ``dates`` (aligned) and ``as_of``, each theme says whether it is rising
    or falling week by week. Quotes are joined with `` / ``.
    """
    table, assignment = fit_themes(list(texts))
    if table.empty:
        return pd.DataFrame()
    if dates is not None and as_of is not None:
        table = theme_trend(table, assignment, dates, as_of).drop(columns="weekly")
    if customer_ids is not None and churned is not None and len(churned):
        table = theme_churn(table, assignment, customer_ids, churned)
    table = table.drop(columns="theme").assign(quotes=table["quotes"].map(" / ".join))
    return table.rename(columns=THEME_HEADERS)


def _plots(
    impact: pd.DataFrame, history: pd.DataFrame, rates: pd.DataFrame, frame: pd.DataFrame | None = None
) -> dict[str, str]:
    """The charts (:func:`~.charts.make_figures`) as embeddable PNG data URLs."""
    return {k: png_data_url(fig) for k, fig in make_figures(impact, history, rates, frame).items()}


def _table(df: pd.DataFrame, fmt: dict[str, str] | None = None) -> str:
    if df is None or df.empty:
        return "<p><em>No data yet.</em></p>"
    fmt = fmt or {}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for c, v in zip(df.columns, row, strict=True):
            if isinstance(v, float):
                s = "" if pd.isna(v) else format(v, fmt.get(c, ".3g"))
            else:
                s = "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)
            cls = " class=text" if len(s) > 40 else " class=words" if _is_words(s) else ""  # words: left
            cells.append(f"<td{cls}>{html.escape(s)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f"<div class=wide><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _is_words(text: str) -> bool:
    """Whether a cell holds words rather than a figure ("2,092", "+0.5 to +5.0", "92.0%"): words align left."""
    return bool(text) and not (text[0].isdigit() or text[0] in "+-−.")


# tables and charts may use the page's width (1280 px screens); running text keeps a readable line length
_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:75em;margin:2em auto;padding:0 1em;color:#222}"
    "p,ul{max-width:60em}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .4em;"
    "text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}.big{font-size:1.25em}"
    "img{max-width:100%}.wide{overflow-x:auto;max-width:100%}td.text{text-align:left;overflow-wrap:anywhere;min-width:12em}td.words{text-align:left}"
)


def _headline(impact: pd.DataFrame, weeks_so_far: dict[str, float] | None = None) -> str:
    """The sentence on top: customers kept overall at the longest horizon measured, in plain words."""
    overall = impact[(impact["playbook"] == "ALL") & impact["outcome"].str.startswith("retained")]
    if not len(overall):
        return "<p class=big>No decision is old enough to measure yet (30 days after the first outreach).</p>"
    best = overall.iloc[-1]
    text = headline_text(best, (weeks_so_far or {}).get(best["outcome"]))
    return f"<p class=big>{html.escape(text)}</p>"


def weeks_observed(frame: pd.DataFrame) -> dict[str, float]:
    """Per outcome column of an outcomes frame: weeks between the first and last decision with a known outcome."""
    out = {}
    for col in (c for c in frame.columns if c.startswith("retained_")):
        days = pd.to_datetime(frame.loc[frame[col].notna(), "decided"])
        if len(days):
            out[col] = ((days.max() - days.min()).days + 1) / 7
    return out


def _leaderboard(impact: pd.DataFrame) -> pd.DataFrame:
    """One row per playbook: customers kept at its longest horizon and the difference in rate per outcome."""
    lead = impact[(impact["playbook"] != "ALL")].copy()
    if not len(lead):
        return lead
    lead = lead.pivot_table(index="playbook", columns="outcome", values="diff", aggfunc="first").reset_index()
    kept = impact[impact["outcome"].str.startswith("retained") & (impact["playbook"] != "ALL")]
    last = (
        kept.sort_values("outcome")
        .groupby("playbook")
        .tail(1)[["playbook", "n_treated", "n_holdout", "kept", "kept_low", "kept_high"]]
    )
    return last.merge(lead, on="playbook", how="right").sort_values("kept", ascending=False)


def render_html(
    as_of: date,
    impact: pd.DataFrame,
    history: pd.DataFrame,
    rates: pd.DataFrame,
    tasks: pd.DataFrame,
    theme_tables: dict[str, pd.DataFrame],
    plots: dict[str, str] | None = None,
    weeks_so_far: dict[str, float] | None = None,
    variants: pd.DataFrame | None = None,
    recognition: str = "",
) -> str:
    """The report page (pure: frames in, HTML out; every value escaped).

    ``recognition``: the board and stories section, already rendered and masked (:mod:`~.recognition`).

    ``weeks_so_far`` (per outcome, see :func:`weeks_observed`) lets the headline say how long to wait.
    """
    plots = plots or {}
    headline = _headline(impact, weeks_so_far)
    lead = _leaderboard(impact)

    def img(key: str, alt: str) -> str:
        return f'<img alt="{alt}" src="{plots[key]}">' if key in plots else ""

    return f"""<!doctype html><html lang=en><head><meta charset=utf-8><title>Proactive outreach: success report</title>
<style>{_CSS}</style></head><body>
<h1>Proactive outreach: success report</h1><p>As of {html.escape(str(as_of))}. Treated vs randomized holdout
(intent to treat). Aggregates and masked quotes only: no customer's personal data.</p>
<h2>Customers kept</h2>{headline}{img("kept", "customers kept per playbook")}
{_trend_caption(plots)}{img("trend", "difference in retention per week of decision")}
{img("history", "customers kept as measured on each report date")}
{_table(display_impact(impact[impact["playbook"] == "ALL"]))}
{_adjusted(impact)}
<h2>Playbook leaderboard</h2><p>Difference in rates, contacted minus held out, in percentage points;
for "needed help", lower is better.</p>
{_table(display_leaderboard(lead))}
<h2>Variants: judged on retention</h2><p>Each variant's contacted customers vs the playbook's holdout (95%
interval), with its reply and unsubscribe rates. Opens are not a goal.</p>
{_table(display_variants(variants))}
<h2>Responses and CSAT</h2>{img("rates", "response rates")}
{_table(display_rates(rates))}
<h2>Customer-success tasks</h2>{_table(display_tasks(tasks))}
{recognition}
<h2>What to fix: recurring themes</h2><p>Ranked by extra churn among customers who raised the theme
(churn rate if raised minus otherwise, times customers) when known, else by size.</p>
{"".join(f"<h3>{html.escape(k)}</h3>{_table(v, _THEME_FMT)}" for k, v in theme_tables.items())}
</body></html>"""


def _adjusted(impact: pd.DataFrame) -> str:
    table = display_adjusted(impact[impact["playbook"] == "ALL"])
    if table.empty:
        return ""
    return (
        "<h3>Adjusted for who was likely to leave anyway</h3><p>The same difference with the noise that the churn "
        "score recorded at each decision and the usage before it can explain taken out (cross-fitted regression "
        "adjustment). Both estimate the same effect and both intervals hold; the adjusted one is narrower when "
        "the score and usage predict who stays.</p>" + _table(table)
    )


def _trend_caption(plots: dict[str, str]) -> str:
    if "trend" not in plots:
        return ""
    return (
        "<h3>Week by week</h3><p>The same difference for the customers decided on in each week: green weeks are "
        "a measured win on their own, grey ones cannot tell; a steady effect shows as points around the same "
        "level.</p>"
    )


_THEME_FMT = {
    "Share": ".0%",
    "Churned if raised": ".0%",
    "Churned otherwise": ".0%",
    "Extra churned": ".1f",
    "Customers who raised it": ".0f",
}


def _theme_tables(wh: Any, day: date) -> dict[str, pd.DataFrame]:
    """Themes per text source over the last 90 days, with churn (cancelled by ``day``) per theme."""
    params = {
        "s": (pd.Timestamp(day) - pd.Timedelta(days=90)).to_pydatetime(),
        "e": (pd.Timestamp(day) + pd.Timedelta(days=1)).to_pydatetime(),
    }
    cust = wh.query("SELECT customer_id, cancelled_at FROM customers")
    cancelled = pd.to_datetime(cust["cancelled_at"])
    churned = pd.Series(
        (cancelled.notna() & (cancelled < params["e"])).to_numpy(int), index=cust["customer_id"].to_numpy()
    )
    out = {}
    for title, sql in THEME_SOURCES.items():
        rows = wh.query(sql, params)
        texts, ids = rows["text"].astype(str).tolist(), rows["customer_id"].tolist()
        out[title] = themes(texts, ids, churned, rows["ts"], day)
    return out


def _tasks(wh: Any, as_of: date) -> pd.DataFrame:
    df = wh.query(
        "SELECT t.playbook, t.state, t.as_of, c.cancelled_at FROM cs_tasks t "
        "LEFT JOIN customers c ON c.customer_id = t.customer_id"
    )
    if df.empty:
        return pd.DataFrame()
    df["retained_30d"] = outcomes.retained_known(pd.to_datetime(df["as_of"]), df["cancelled_at"], 30, as_of)
    return (
        df.groupby(["playbook", "state"])
        .agg(tasks=("as_of", "size"), retained_30d=("retained_30d", "mean"))
        .reset_index()
    )


def write_report(wh: Any, settings: Settings, as_of: date | datetime) -> Path:
    """Build the report from the warehouse and write ``<reports_dir>/report.html``; returns the path."""
    day = pd.Timestamp(as_of).date()
    frame = outcomes_frame(*load_impact_inputs(wh), day)
    impact = impact_table(frame)
    by_variant, variant_rates = variant_inputs(wh)
    variants = variant_table(with_variants(frame, by_variant), variant_rates)
    history = wh.query("SELECT * FROM impact_history WHERE as_of <= :d", {"d": day})
    rates = response_rates(wh)
    plots = _plots(impact, history, rates, frame)
    page = render_html(
        day,
        impact,
        history,
        rates,
        _tasks(wh, day),
        _theme_tables(wh, day),
        plots,
        weeks_observed(frame),
        variants,
        recognition_html(wh, day, _table),
    )
    from proactive_ml.measurement.policy_check import latest_check, policy_section

    lead = "<h2>Playbook leaderboard</h2>"  # the policy check's section goes just before the leaderboard
    page = page.replace(lead, policy_section(latest_check(wh)) + lead, 1)
    out = Path(settings.reports_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.html"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
