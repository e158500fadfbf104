"""The success report: "celebrate the wins, find what to fix" (one self-contained HTML page, plots embedded).

Sections: customers kept by the outreach (incremental, with interval) and its history; the playbook leaderboard;
response (open/click/reply/unsubscribe) and CSAT rates; customer-success tasks and their outcomes; recurring
themes in negative comments and replies (keyword and bigram counts). Aggregates only: no emails, names or ids.

:func:`themes` and :func:`render_html` are pure; :func:`write_report` reads the warehouse and writes the file.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd

from proactive_ml.features import outcomes
from proactive_ml.measurement.impact import _load as load_impact_inputs
from proactive_ml.measurement.impact import impact_table, outcomes_frame
from proactive_ml.measurement.variants import variant_inputs, variant_table, with_variants
from proactive_ml.responses.processing import response_rates
from proactive_ml.settings import Settings

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "re",
        "hi",
        "hello",
        "thanks",
        "thank",
        "please",
        "dear",
        "regards",
        "best",
        "team",
        "email",
        "emails",
        "get",
        "got",
        "also",
        "still",
        "really",
        "much",
        "one",
        "would",
        "could",
        "im",
        "ive",
        "dont",
        "cant",
        "isnt",
        "wont",
        "didnt",
        "doesnt",
        "us",
        "let",
    ]
)
_EMAIL = re.compile(r"\S+@\S+")
_URL = re.compile(r"https?://\S+")
_WORD = re.compile(r"[a-z][a-z']{2,}")
_QUOTE_START = re.compile(r"^\s*(>|On .{0,200}wrote:)", re.IGNORECASE | re.MULTILINE)


def _tokens(text: str) -> list[str]:
    text = _QUOTE_START.split(text or "", maxsplit=1)[0]
    text = _URL.sub(" ", _EMAIL.sub(" ", text.lower()))
    return [w.replace("'", "") for w in _WORD.findall(text) if w.replace("'", "") not in STOPWORDS]


def themes(texts: list[str], top: int = 15, min_count: int = 2) -> pd.DataFrame:
    """Most frequent keywords and bigrams (stop words, addresses and links removed) with their counts."""
    counts: Counter[str] = Counter()
    docs: Counter[str] = Counter()
    for t in texts:
        toks = _tokens(t)
        grams = toks + [f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False)]
        counts.update(grams)
        docs.update(set(grams))
    frequent = {g: c for g, c in counts.items() if c >= min_count}
    bigrams = {g: c for g, c in frequent.items() if " " in g}
    rows = []
    for g, c in sorted(frequent.items(), key=lambda kv: (-kv[1], kv[0])):
        if " " not in g:
            # a word mostly seen inside one frequent bigram adds nothing: the bigram says it better
            best = max((bc for b, bc in bigrams.items() if g in b.split()), default=0)
            if best >= 0.6 * c:
                continue
        rows.append((g, c, docs[g]))
    return pd.DataFrame(rows[:top], columns=["theme", "mentions", "documents"])


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _plots(impact: pd.DataFrame, history: pd.DataFrame, rates: pd.DataFrame) -> dict[str, str]:
    matplotlib.use("Agg", force=False)
    out: dict[str, str] = {}
    kept = impact[impact["outcome"].str.startswith("retained")].dropna(subset=["kept"])
    if len(kept):
        horizon = kept["outcome"].map(lambda o: int(o.split("_")[1][:-1])).max()
        k = kept[kept["outcome"] == f"retained_{horizon}d"].sort_values("kept")
        fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(k)))
        err = [k["kept"] - k["kept_low"], k["kept_high"] - k["kept"]]
        colors = [
            "#2e7d32" if lo > 0 else ("#c62828" if hi < 0 else "#9e9e9e")
            for lo, hi in zip(k["kept_low"], k["kept_high"], strict=True)
        ]
        ax.barh(k["playbook"], k["kept"], xerr=err, color=colors, capsize=4)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel(f"customers kept at {horizon} days (incremental vs holdout, 95% interval)")
        out["kept"] = _png(fig)
    if len(history):
        h = history[(history["playbook"] == "ALL") & history["outcome"].str.startswith("retained")]
        if h["as_of"].nunique() > 1:
            fig, ax = plt.subplots(figsize=(7, 3))
            for o, g in h.groupby("outcome"):
                g = g.sort_values("as_of")
                ax.plot(pd.to_datetime(g["as_of"]), g["kept"], marker="o", label=o)
                ax.fill_between(pd.to_datetime(g["as_of"]), g["kept_low"], g["kept_high"], alpha=0.15)
            ax.axhline(0, color="black", lw=0.8)
            ax.set_ylabel("customers kept")
            ax.legend()
            out["history"] = _png(fig)
    if len(rates):
        cols = [c for c in ("open", "click", "reply", "unsubscribe") if c in rates.columns]
        fig, ax = plt.subplots(figsize=(7, 3))
        (rates.set_index("playbook")[cols].astype(float) * 100).plot.bar(ax=ax, rot=0)
        ax.set_ylabel("% of sent emails")
        out["rates"] = _png(fig)
    return out


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
            cells.append(f"<td>{html.escape(s)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;"
    "text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}.big{font-size:1.25em}"
    "img{max-width:100%}"
)


def _headline(impact: pd.DataFrame) -> str:
    """The sentence on top: customers kept overall at the longest horizon measured, with its interval."""
    overall = impact[(impact["playbook"] == "ALL") & impact["outcome"].str.startswith("retained")]
    if not len(overall):
        return "<p class=big>No decision is old enough to measure yet (30 days after the first outreach).</p>"
    best = overall.iloc[-1]
    if best["kept_low"] > 0:
        verdict = "a measured win"
    elif best["kept_high"] < 0:
        verdict = "a measured loss: investigate"
    else:
        verdict = "not distinguishable from zero yet"
    return (
        f"<p class=big>The outreach kept <b>{best['kept']:.1f}</b> customers "
        f"(95% interval {best['kept_low']:.1f} to {best['kept_high']:.1f}) at {best['outcome'].split('_')[1]}, "
        f"{html.escape(verdict)}: {int(best['n_treated'])} contacted vs {int(best['n_holdout'])} held out, "
        f"retention {best['rate_treated']:.1%} vs {best['rate_holdout']:.1%}.</p>"
    )


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
    comment_themes: pd.DataFrame,
    reply_themes: pd.DataFrame,
    plots: dict[str, str] | None = None,
    variants: pd.DataFrame | None = None,
) -> str:
    """The report page (pure: frames in, HTML out; every value escaped)."""
    plots = plots or {}
    headline = _headline(impact)
    lead = _leaderboard(impact)

    def img(key: str, alt: str) -> str:
        return f'<img alt="{alt}" src="{plots[key]}">' if key in plots else ""

    return f"""<!doctype html><html lang=en><head><meta charset=utf-8><title>Proactive outreach: success report</title>
<style>{_CSS}</style></head><body>
<h1>Proactive outreach: success report</h1><p>As of {html.escape(str(as_of))}. Treated vs randomized holdout
(intent to treat). Aggregates only: no personal data.</p>
<h2>Customers kept</h2>{headline}{img("kept", "customers kept per playbook")}{img("history", "history")}
{_table(impact[impact["playbook"] == "ALL"], {"n_treated": ".0f", "n_holdout": ".0f"})}
<h2>Playbook leaderboard</h2><p>Difference in rates (treated - holdout) per outcome; need_30d: lower is better.</p>
{_table(lead, {"n_treated": ".0f", "n_holdout": ".0f", "kept": ".1f", "kept_low": ".1f", "kept_high": ".1f"})}
<h2>Variants: judged on retention</h2><p>Each variant's contacted customers vs the playbook's holdout (95%
interval), with its reply and unsubscribe rates. Opens are not a goal.</p>
{_table(variants if variants is not None else pd.DataFrame(), _VARIANT_FMT)}
<h2>Responses and CSAT</h2>{img("rates", "response rates")}
{_table(rates, {"sent": ".0f", "ratings": ".0f", "csat_mean": ".2f"})}
<h2>Customer-success tasks</h2>{_table(tasks, {"tasks": ".0f", "retained_30d": ".1%"})}
<h2>What to fix: recurring themes</h2><h3>Negative survey comments (last 90 days)</h3>{_table(comment_themes)}
<h3>Replies to our emails (people, not auto-replies)</h3>{_table(reply_themes)}
</body></html>"""


_VARIANT_FMT = {
    "n_treated": ".0f",
    "n_holdout": ".0f",
    "sent": ".0f",
    "rate_treated": ".1%",
    "rate_holdout": ".1%",
    "reply": ".1%",
    "unsubscribe": ".1%",
}


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
    rows = outcomes_frame(*load_impact_inputs(wh), day)
    impact = impact_table(rows)
    by_variant, variant_rates = variant_inputs(wh)
    variants = variant_table(with_variants(rows, by_variant), variant_rates)
    history = wh.query("SELECT * FROM impact_history WHERE as_of <= :d", {"d": day})
    rates = response_rates(wh)
    since = pd.Timestamp(day) - pd.Timedelta(days=90)
    comments = wh.query(
        f"SELECT comment FROM feedback WHERE comment IS NOT NULL AND ts >= :s AND ts < :e AND {outcomes.DETRACTOR_SQL}",
        {"s": since.to_pydatetime(), "e": (pd.Timestamp(day) + pd.Timedelta(days=1)).to_pydatetime()},
    )["comment"].tolist()
    replies = wh.query("SELECT body_text FROM replies WHERE NOT is_auto AND body_text IS NOT NULL")[
        "body_text"
    ].tolist()
    plots = _plots(impact, history, rates)
    page = render_html(
        day, impact, history, rates, _tasks(wh, day), themes(comments), themes(replies), plots, variants
    )
    out = Path(settings.reports_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.html"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
