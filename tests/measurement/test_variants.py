"""Variants measured on retention against the playbook's holdout, with reply and unsubscribe rates."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from proactive_ml.measurement.impact import COLUMNS as IMPACT_COLUMNS
from proactive_ml.measurement.impact import _variant_metrics, outcomes_frame
from proactive_ml.measurement.report import render_html
from proactive_ml.measurement.variants import variant_inputs, variant_table, with_variants
from proactive_ml.sim.fixtures import load_decision_tables, synthetic_decisions


def _with_variants(n: int, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``synthetic_decisions`` where only variant 'a' of 'onboarding' works (treated 'b' churns like the holdout)."""
    dec, cust, need = synthetic_decisions(n=n, effect=0.0, seed=seed)
    rng = np.random.default_rng(seed)
    dec["variant"] = np.where(dec["playbook"] == "onboarding", rng.choice(["a", "b"], len(dec)), None)
    saved = (dec["variant"] == "a") & (dec["arm"] == "treatment") & (rng.random(len(dec)) < 0.6)
    cust.loc[saved.to_numpy(), "cancelled_at"] = None  # variant a keeps 60% of those who would have left
    return dec, cust, need


def test_each_variant_is_judged_against_the_holdout_with_intervals() -> None:
    dec, cust, need = _with_variants(8000)
    rows = outcomes_frame(dec, cust, need, date(2026, 12, 31))
    t = variant_table(with_variants(rows, dec[["send_key", "variant"]]))
    assert set(t["playbook"]) == {"onboarding"}  # 'renewal' has no variants
    r60 = t[t["outcome"] == "retained_60d"].set_index("variant")
    assert r60.loc["a", "ci_low"] > 0.05  # the working variant: clearly above the holdout
    assert r60.loc["b", "ci_low"] < 0 < r60.loc["b", "ci_high"]  # the other one: no difference
    assert (t["n_holdout"] > 300).all()
    empty = pd.DataFrame()
    impact = pd.DataFrame(columns=IMPACT_COLUMNS)
    html = render_html(date(2026, 12, 31), impact, empty, empty, empty, {}, variants=t)
    assert "Variants: judged on retention" in html
    row = "<td class=words>onboarding</td><td class=words>a</td><td class=words>Still a customer after 60 days</td>"
    assert row in html  # in words, as the rest of the report
    assert "retained_60d" not in html
    assert "n_treated" not in html


def test_variant_metrics_carry_reply_and_unsubscribe_rates(duck) -> None:
    dec, cust, _ = _with_variants(600)
    load_decision_tables(duck, dec, cust)
    treated = dec[(dec["arm"] == "treatment") & dec["variant"].notna()]
    duck.insert_frame(
        "send_ledger",
        treated.assign(
            window_start=treated["as_of"],
            state="accepted",
            attempts=1,
            created_at=datetime(2026, 6, 1),
            updated_at=datetime(2026, 6, 1),
        )[
            [
                "send_key",
                "customer_id",
                "playbook",
                "window_start",
                "state",
                "attempts",
                "created_at",
                "updated_at",
            ]
        ],
    )
    first_a = treated[treated["variant"] == "a"]["send_key"].iloc[0]
    duck.execute(
        "INSERT INTO email_events (dedupe_key, send_key, event, event_ts, ingested_at) VALUES "
        "('e1', :k, 'unsubscribe', TIMESTAMP '2026-06-05 10:00:00', TIMESTAMP '2026-06-05 10:00:00')",
        {"k": first_a},
    )
    by_variant, rates = variant_inputs(duck)
    t = variant_table(with_variants(outcomes_frame(dec, cust, _, date(2026, 12, 1)), by_variant), rates)
    m = {x.key: x.value for x in _variant_metrics(t, 0)}  # what the MLflow impact run logs
    assert {"onboarding.variant_a.retained_60d.diff", "onboarding.variant_b.retained_60d.ci_low"} <= set(m)
    n_a = int((treated["variant"] == "a").sum())
    assert abs(m["onboarding.variant_a.unsubscribe_rate"] - 1 / n_a) < 1e-9
    assert m["onboarding.variant_b.unsubscribe_rate"] == 0.0
    assert m["onboarding.variant_a.reply_rate"] == 0.0
