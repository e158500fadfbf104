"""The report's charts: a weekly trend with intervals, sized for 1280 px, and the same plots in the MLflow run."""

from __future__ import annotations

import base64
import io
from datetime import date

import pandas as pd
from PIL import Image

from proactive_ml.measurement.charts import DPI, make_figures, png_data_url, rates_figure, weekly_table
from proactive_ml.measurement.impact import impact_table, outcomes_frame
from proactive_ml.measurement.report import render_html
from proactive_ml.sim.fixtures import synthetic_decisions


def _frame(n: int = 1200):
    dec, cust, need = synthetic_decisions(n=n)
    return outcomes_frame(dec, cust, need, date(2026, 12, 1))


def test_weekly_table_has_one_row_per_decision_week_with_intervals():
    frame = _frame()
    w = weekly_table(frame, "retained_60d")
    decided = pd.to_datetime(frame["decided"])
    assert len(w) == decided.dt.to_period("W-SUN").nunique()  # 20 days of decisions: 3-4 weeks
    assert all(pd.Timestamp(d).dayofweek == 0 for d in w["week"])  # weeks start on Monday
    assert (w["ci_low"] <= w["diff"]).all()
    assert (w["diff"] <= w["ci_high"]).all()
    assert w["n_treated"].sum() + w["n_holdout"].sum() == frame["customer_id"].nunique()
    assert weekly_table(frame.iloc[:0], "retained_60d").empty


def test_figures_fit_the_page_and_use_plain_words():
    frame = _frame()
    impact = impact_table(frame)
    history = pd.concat(
        [impact.assign(as_of=date(2026, 11, 24)), impact.assign(as_of=date(2026, 12, 1))], ignore_index=True
    )
    rates = pd.DataFrame({"playbook": ["onboarding"], "open": [0.4], "click": [0.1], "reply": [0.02]})
    figs = make_figures(impact, history, rates, frame)
    assert set(figs) == {"kept", "trend", "history", "rates"}
    for fig in figs.values():
        png = png_data_url(fig).split(",", 1)[1]
        width = Image.open(io.BytesIO(base64.b64decode(png))).size[0]
        assert 800 <= width <= 960  # the page's column at 1280 px: shown at full size, never shrunk
        texts = [t.get_text() for ax in fig.axes for t in ax.texts + [ax.title, ax.xaxis.label]]
        texts += [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
        assert not any("retained_" in t or "n_treated" in t for t in texts), texts
    assert figs["trend"].axes[0].get_title().startswith("Still a customer after 90 days")
    page = render_html(
        date(2026, 12, 1),
        impact,
        history,
        rates,
        pd.DataFrame(),
        {},
        {k: png_data_url(f) for k, f in figs.items()},
    )
    assert "Week by week" in page
    assert page.count("data:image/png;base64,") == 4
    assert DPI == 100


def test_no_response_chart_before_any_response() -> None:
    silent = pd.DataFrame({"playbook": ["a", "b"], "sent": [10, 3], "open": [0.0, 0.0], "click": [0.0, None]})
    assert rates_figure(silent) is None  # an empty chart with a -0.04 .. 0.04 axis said nothing
    heard = silent.assign(open=[0.2, 0.0])
    assert rates_figure(heard) is not None
