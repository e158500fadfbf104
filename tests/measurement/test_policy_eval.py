"""Off-policy evaluation and the policy check: unbiased on a log with known truth; the switch needs the bound."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from proactive_ml.measurement.policy_check import (
    Verdict,
    decide,
    evaluate,
    latest_check,
    log_policy_run,
    logged_decisions,
    policy_section,
    store_verdict,
    uplift_cleared,
    verdict_row,
)
from proactive_ml.measurement.policy_eval import (
    PolicyComparison,
    PolicyValue,
    compare_policies,
    true_policy_values,
)
from proactive_ml.settings import Settings
from proactive_ml.sim.policy_log import LogConfig, simulate_log
from proactive_ml.warehouse import Warehouse

SCORES = {"risk": "risk_score", "uplift": "uplift_score"}
FEATURES = ["risk_score", "uplift_score"]


def test_the_doubly_robust_estimate_is_unbiased_on_a_log_with_known_policy_values() -> None:
    cfg = LogConfig(days=8, customers_per_day=400, budget=120, exploration_share=0.3, holdout=0.3)
    errors: dict[str, list[float]] = {"risk": [], "uplift": [], "random": []}
    for seed in range(24):
        logged, candidates, budgets = simulate_log(cfg, seed)
        est = compare_policies(logged, holdout=cfg.holdout, features=FEATURES, n_boot=20, seed=seed)
        truth = true_policy_values(candidates, budgets, SCORES)
        for p in errors:
            errors[p].append(est.values[p].value - truth[p])
    assert truth["uplift"] > truth["risk"] > truth["random"]  # the world where the choice matters
    for p, e in errors.items():
        bias, se = float(np.mean(e)), float(np.std(e, ddof=1) / np.sqrt(len(e)))
        assert abs(bias) < 3 * se + 0.005, (p, bias, se)  # no systematic error beyond the noise
        assert float(np.mean(np.abs(e))) < 0.06, (
            p
        )  # and each estimate is near the truth (effects ~3-9 points)


def _comparison(diff: float, lower: float, explored: int = 100) -> PolicyComparison:
    values = {
        "risk": PolicyValue(0.05, 0.03, 0.07),
        "uplift": PolicyValue(0.05 + diff, 0.04, 0.12),
        "random": PolicyValue(0.02, 0.0, 0.04),
    }
    return PolicyComparison(values, diff, lower, n_logged=2000, n_explored=explored)


def test_the_switch_needs_the_one_sided_bound_above_zero_and_support() -> None:
    assert decide(_comparison(0.04, 0.01)).targeting == "uplift"
    held = decide(_comparison(0.04, -0.002))  # better on average, but not beyond chance
    assert held.targeting == "risk"
    assert "lower bound" in held.reason
    assert decide(_comparison(0.04, 0.01, explored=5)).targeting == "risk"  # too little random support
    assert decide(None, "no uplift model @champion yet").reason == "no uplift model @champion yet"
    log, _, _ = simulate_log(LogConfig(days=2, customers_per_day=200, budget=40), 0)
    assert "no uplift model" in evaluate(log, 0.145, None).reason


def test_a_check_on_a_rich_log_switches_and_is_recorded_in_warehouse_mlflow_and_report(
    wh: Warehouse, settings: Settings
) -> None:
    cfg = LogConfig(
        days=10,
        customers_per_day=600,
        budget=300,
        exploration_share=0.5,
        holdout=0.3,
        uplift_noise=0.2,
        effect_slope=0.2,
    )
    log, _, _ = simulate_log(cfg, 0)
    verdict = evaluate(log, cfg.holdout, "7")
    assert verdict.targeting == "uplift"
    assert verdict.comparison is not None
    assert verdict.comparison.diff_lower95 > 0
    assert verdict.model_version == "7"
    # the same log with uplift scores that are noise: no switch
    noise = log.assign(uplift_score=np.random.default_rng(0).normal(size=len(log)))
    assert evaluate(noise, cfg.holdout, "7").targeting == "risk"

    assert uplift_cleared(wh) == (False, "no policy check has run yet")
    store_verdict(wh, date(2026, 11, 1), Verdict("risk", "too few decisions"))
    store_verdict(wh, date(2026, 11, 8), verdict)
    cleared, reason = uplift_cleared(wh)
    assert cleared
    assert "more customers per 100 emails" in reason
    last = latest_check(wh)
    assert last is not None
    assert last["uplift_model_version"] == "7"
    assert last["uplift_value"] == pytest.approx(verdict.comparison.values["uplift"].value)
    section = policy_section(last)
    assert "targets by <b>uplift" in section
    assert "Kept per 100 emails" in section
    assert (
        section.count('<img alt="customers kept per 100 emails under each targeting" src="data:image/png')
        == 1
    )
    assert "<img" not in policy_section(
        latest_check_of(Verdict("risk", "too few decisions"))
    )  # nothing to draw

    run_id = log_policy_run(settings, date(2026, 11, 8), verdict)
    run = MlflowClient(tracking_uri=settings.resolved_mlflow_uri).get_run(run_id)
    assert run.data.tags["stage"] == "policy-check"
    assert run.data.tags["targeting"] == "uplift"
    assert run.data.metrics["diff_lower95"] == pytest.approx(verdict.comparison.diff_lower95)
    assert "customer" not in " ".join(run.data.params.values()).lower().replace("customers", "")
    plots = [
        a.path
        for a in MlflowClient(tracking_uri=settings.resolved_mlflow_uri).list_artifacts(run_id, "plots")
    ]
    assert plots == ["plots/policy_check.png"]  # the same chart as the report's, beside the metrics


def latest_check_of(verdict: Verdict) -> dict:
    """A verdict as the stored row the report reads."""
    return verdict_row(date(2026, 11, 1), verdict)


def test_logged_decisions_keep_email_rows_whose_outcome_is_known(wh: Warehouse) -> None:
    now = datetime(2026, 11, 1)
    rows = [  # customer, day, arm, action, p_treat
        ("c1", "2026-09-01", "treatment", "email", 0.855),
        ("c2", "2026-09-01", "holdout", "email", 0.855),
        ("c3", "2026-09-01", "treatment", "cs_task", 0.855),  # not an email: not in the email budget
        ("c4", "2026-10-25", "treatment", "email", 0.01),  # 30 days not over yet
    ]
    for cid, day, arm, action, p in rows:
        wh.execute(
            "INSERT INTO decisions (send_key, as_of, customer_id, playbook, action, arm, score, decided_at, "
            "p_treat, policy) VALUES (:k, CAST(:d AS DATE), :c, 'pb', :a, :arm, 0.4, :now, :p, 'risk')",
            {"k": f"k{cid}", "d": day, "c": cid, "a": action, "arm": arm, "now": now, "p": p},
        )
    customers = pd.DataFrame({"customer_id": ["c1", "c2", "c3", "c4"]})
    customers["cancelled_at"] = [pd.NaT, pd.Timestamp("2026-09-10"), pd.NaT, pd.NaT]
    for r in customers.itertuples():
        wh.execute(
            "INSERT INTO customers (customer_id, signup_date, cancelled_at) VALUES (:c, DATE '2025-01-01', :x)",
            {"c": r.customer_id, "x": None if pd.isna(r.cancelled_at) else r.cancelled_at.to_pydatetime()},
        )
    d = logged_decisions(wh, date(2026, 11, 1), lambda day: pd.Series({"c1": 0.1, "c2": 0.02}))
    assert sorted(d["customer_id"]) == ["c1", "c2"]
    got = d.set_index("customer_id")
    assert got.loc["c1", "y"] == 1
    assert got.loc["c2", "y"] == 0
    assert got.loc["c1", "treated"] == 1
    assert got.loc["c2", "treated"] == 0
    assert got.loc["c1", "uplift_score"] == 0.1
    assert got.loc["c2", "risk_score"] == 0.4
