"""Topic-model themes: cleaning, PII-free quotes, theme sizes and churn per theme on tiny data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from proactive_ml.measurement.themes import (
    clean,
    distinct_terms,
    fit_themes,
    redact,
    theme_churn,
    theme_trend,
)

BILLING = [
    "Billing error on my invoice again, charged twice",
    "invoice wrong: billing charged twice this month",
    "I was charged twice, the invoice billing is wrong",
    "billing invoice error, charged twice &amp; no refund",
    "double charged on the invoice, billing error",
    "the invoice shows a billing error again",
]
SLOW = [
    "The dashboard is so slow, reports take minutes to load",
    "slow dashboard, reports load forever",
    "reports are slow and the dashboard times out",
    "dashboard slow again, reports never load",
    "loading the reports dashboard is slow",
    "slow slow slow dashboard reports",
]


def test_clean_drops_handles_entities_links_quotes_signatures_and_addresses():
    text = (
        "@acme the export &amp; the reports failed, see https://x.example/a or mail jane.doe@example.com\n"
        "call +1 (555) 123-4567\n--\nJane Doe\nHead of Ops\n"
        "On Mon, Dec 1 2026 support@acme.com wrote:\n> old text about invoices"
    )
    words = clean(text).split()
    assert "export" in words
    assert "report" in words  # stemmed
    assert not any(w in words for w in ("acme", "jane", "doe", "example", "amp", "invoic", "http", "com"))
    quote = redact(text)
    assert "jane.doe" not in quote
    assert "example.com" not in quote
    assert "555" not in quote
    assert "old text" not in quote
    assert "&" in quote
    assert "[email]" in quote


def test_fit_themes_separates_two_topics_with_sizes_terms_and_quotes():
    texts = BILLING + SLOW
    table, assignment = fit_themes(texts, 2)
    assert len(table) == 2
    assert table["texts"].sum() == len(texts)
    assert len(set(assignment[:6])) == 1
    assert len(set(assignment[6:])) == 1
    assert assignment[0] != assignment[6]
    terms = " ".join(table["terms"])
    assert "invoice" in terms
    assert "dashboard" in terms
    assert all(1 <= len(q) <= 3 for q in table["quotes"])
    assert table["share"].sum() == 1.0
    none_table, none_assign = fit_themes(["", "@x", "the and"])
    assert none_table.empty
    assert (none_assign == -1).all()


def test_terms_do_not_repeat_each_other():
    ranked = ["confusing", "did help", "docs did", "did", "confusing docs", "docs", "invoice", "price"]
    assert distinct_terms(ranked, 4) == ["confusing docs", "did help", "docs did", "invoice"]
    assert distinct_terms(["a b", "b c", "a", "c"], 5) == ["a b", "b c"]


def test_a_negation_stays_with_its_word_in_the_terms():
    texts = [
        "The docs did not help at all",
        "setup docs did not help",
        "support did not help me",
        "your docs did not help, confusing",
        "the export button does nothing",
        "export button does nothing again",
        "clicking export does nothing",
        "export does nothing, button broken",
    ]
    table, _ = fit_themes(texts, 2, min_df=1)
    terms = ", ".join(table["terms"]).split(", ")
    assert "not help" in terms
    assert "does nothing" in terms
    assert "did help" not in terms
    assert "not" not in terms


def test_theme_churn_compares_customers_who_raised_a_theme_with_the_others():
    texts = BILLING + SLOW
    table, assignment = fit_themes(texts, 2)
    ids = [f"B{i}" for i in range(6)] + [f"S{i}" for i in range(6)]
    population = pd.Series(
        [1] * 6 + [0] * 6 + [0] * 8, index=ids + [f"Q{i}" for i in range(8)]
    )  # billing complainers all churned
    out = theme_churn(table, assignment, ids, population)
    top = out.iloc[0]
    assert "invoice" in top["terms"]
    assert top["customers"] == 6
    assert top["churn_raised"] == 1.0
    assert np.isclose(top["churn_others"], 0.0)
    assert top["extra_churned"] == 6.0
    assert out.iloc[1]["churn_raised"] == 0.0


def test_theme_trend_says_which_theme_is_rising_week_by_week():
    texts = BILLING + SLOW
    table, assignment = fit_themes(texts, 2)
    as_of = pd.Timestamp("2026-06-30")
    # billing complaints all came in the last week; the slow dashboard ones five to eight weeks ago
    dates = [as_of - pd.Timedelta(days=d) for d in (0, 1, 2, 3, 4, 5)] + [
        as_of - pd.Timedelta(days=d) for d in (30, 35, 40, 45, 50, 52)
    ]
    out = theme_trend(table, assignment, dates, as_of).set_index("theme")
    billing, slow = assignment[0], assignment[6]
    assert out.loc[billing, "weekly"] == [0] * 7 + [6]
    assert out.loc[billing, "trend"] == "rising: 0 → 6"
    assert sum(out.loc[slow, "weekly"]) == 6
    assert out.loc[slow, "trend"] == "falling: 6 → 0"
