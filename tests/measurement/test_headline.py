"""The report's plain-language headline and human tables (pure, one-row frames)."""

from __future__ import annotations

import math

import pandas as pd

from proactive_ml.measurement.headline import (
    display_impact,
    display_rates,
    display_tasks,
    display_variants,
    headline_text,
    weeks_needed,
)

ROW = {
    "playbook": "ALL",
    "outcome": "retained_90d",
    "n_treated": 400,
    "n_holdout": 100,
    "rate_treated": 0.82,
    "rate_holdout": 0.80,
    "diff": 0.02,
    "ci_low": -0.06,
    "ci_high": 0.10,
    "kept": 8.0,
    "kept_low": -24.0,
    "kept_high": 40.0,
}


def test_headline_says_not_yet_distinguishable_and_how_many_weeks_more():
    text = headline_text(pd.Series(ROW), weeks_so_far=1.0)
    assert text.startswith("Not yet distinguishable from no effect after 90 days")
    assert "between 24 fewer and 40 more" in text
    assert "About 15 more weeks of holdout needed" in text  # (0.08 / 0.02)^2 - 1 = 15 x 1 week
    assert "82.0%" in text
    assert "safe for daily looks" in text


def test_weeks_needed_follows_the_square_root_law():
    assert weeks_needed(0.02, -0.06, 0.10, 1.0) == 15  # half-width 4 x the effect: 16 x the customers
    assert weeks_needed(0.05, 0.01, 0.09, 3.0) == 0
    assert math.isinf(weeks_needed(0.0, -0.05, 0.05, 3.0))
    assert weeks_needed(0.02, -0.06, 0.10, None) is None


def test_headline_of_a_win_and_human_table():
    win = {**ROW, "ci_low": 0.01, "ci_high": 0.03, "kept_low": 4.0, "kept_high": 12.0}
    assert headline_text(pd.Series(win)).startswith(
        "After 90 days the outreach had kept about 8 more customers"
    )
    assert "a measured win" in headline_text(pd.Series(win))
    table = display_impact(pd.DataFrame([ROW]))
    assert table.iloc[0]["Outcome"] == "Still a customer after 90 days"
    assert table.iloc[0]["Rate, contacted"] == "82.0%"
    assert table.iloc[0]["95% interval (points)"] == "-6.0 to +10.0"
    assert "n_treated" not in table.columns


def test_variant_rate_and_task_tables_read_as_words_and_percentages():
    variants = pd.DataFrame(
        [{**ROW, "playbook": "onboarding", "variant": "a", "sent": 180, "reply": 0.021, "unsubscribe": 0.004}]
    )
    v = display_variants(variants).iloc[0]
    assert v["Outcome"] == "Still a customer after 90 days"
    assert v["Difference, points (95% interval)"] == "+2.0 (-6.0 to +10.0)"
    assert (v["Replied"], v["Unsubscribed"], v["Emails sent"]) == ("2.1%", "0.4%", "180")
    rates = pd.DataFrame(
        {"playbook": ["p"], "sent": [1098], "delivered": [0.847], "open": [0.318], "click": [0.0592],
         "reply": [0.0209], "unsubscribe": [0.0082], "csat_mean": [3.25], "ratings": [102]}
    )  # fmt: skip
    r = display_rates(rates).iloc[0]
    assert (r["Emails sent"], r["Delivered"], r["Clicked"], r["Average rating (1–5)"]) == (
        "1,098",
        "84.7%",
        "5.9%",
        "3.25",
    )
    tasks = pd.DataFrame({"playbook": ["p"], "state": ["done"], "tasks": [461], "retained_30d": [0.93]})
    t = display_tasks(tasks).iloc[0]
    assert (t["State"], t["Tasks"], t["Still a customer after 30 days"]) == ("Done", "461", "93.0%")
    for table in (display_variants(variants), display_rates(rates), display_tasks(tasks)):
        assert not [c for c in table.columns if "_" in c], table.columns
    assert display_rates(pd.DataFrame()).empty
    assert display_tasks(pd.DataFrame()).empty
