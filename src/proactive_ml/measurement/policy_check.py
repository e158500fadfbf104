"""The policy check: may outreach switch from risk to uplift targeting? Judged on logged decisions, then recorded.

Outreach targets by uplift only when the doubly robust off-policy estimate (:mod:`~.policy_eval`) says uplift
targeting keeps more customers per email than risk targeting at the same budget, with a one-sided 95% lower bound
of the difference above zero. Each check is kept in ``policy_checks`` (the outreach flow reads the latest), logged as
an MLflow run (experiment ``proactive-impact``, tag ``stage=policy-check``; aggregates only, no ids or PII) and shown
in the report in plain words (:func:`policy_section`).

The logged data: email decisions in the randomized arms with a recorded ``p_treat`` whose 30-day retention is known.
Risk targeting ranks by the churn score recorded at the decision; uplift targeting by the current uplift
``@champion``'s prediction with the features as of each decision day.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from proactive_ml.features import outcomes
from proactive_ml.measurement.charts import POLICY_LABELS, as_number, png_data_url, policy_figure
from proactive_ml.measurement.policy_eval import POLICIES, PolicyComparison, compare_policies
from proactive_ml.settings import Settings

HORIZON_DAYS = 30
FEATURES = ["risk_score", "uplift_score"]
MIN_EXPLORED = 20  # fewer randomly drawn decisions with outcomes than this: too little support to judge
LOGGED_SQL = """SELECT d.send_key, d.as_of, d.customer_id, d.arm, d.score, d.p_treat, d.policy, c.cancelled_at
FROM decisions d LEFT JOIN customers c ON c.customer_id = d.customer_id
WHERE d.action = 'email' AND d.arm IN ('treatment', 'holdout') AND d.p_treat IS NOT NULL"""


@dataclass(frozen=True)
class Verdict:
    """What outreach should target by, why, and the figures behind it (None when nothing could be estimated)."""

    targeting: str
    reason: str
    comparison: PolicyComparison | None = None
    model_version: str | None = None

    @property
    def switch_to_uplift(self) -> bool:
        """True when outreach may target by uplift."""
        return self.targeting == "uplift"


def decide(comparison: PolicyComparison | None, why_not: str = "") -> Verdict:
    """Uplift only when the estimate's one-sided 95% lower bound of (uplift - risk) is above zero; else risk."""
    if comparison is None:
        return Verdict("risk", why_not or "nothing to judge yet")
    if comparison.n_explored < MIN_EXPLORED:
        return Verdict(
            "risk",
            f"only {comparison.n_explored} randomly drawn decisions with a known outcome (need {MIN_EXPLORED})",
            comparison,
        )
    per100 = 100 * comparison.diff
    if comparison.diff_lower95 > 0:
        return Verdict(
            "uplift", f"uplift keeps {per100:.1f} more customers per 100 emails (bound > 0)", comparison
        )
    return Verdict(
        "risk",
        f"uplift is not yet shown to keep more customers per email (difference {per100:+.1f} per 100 emails, "
        f"95% lower bound {100 * comparison.diff_lower95:+.1f})",
        comparison,
    )


def logged_decisions(wh: Any, as_of: date, uplift: Any = None) -> pd.DataFrame:
    """Email decisions whose 30-day retention is known by ``as_of``, shaped for :func:`compare_policies`.

    ``uplift(day) -> Series by customer_id`` gives the uplift policy's scores as of a decision day (None: NaN).
    """
    d = wh.query(LOGGED_SQL)
    decided = pd.to_datetime(d["as_of"])
    d["y"] = outcomes.retained_known(decided, pd.to_datetime(d["cancelled_at"]), HORIZON_DAYS, as_of)
    d = d[d["y"].notna()].copy()
    d["day"] = pd.to_datetime(d["as_of"]).dt.date
    d["treated"] = (d["arm"] == outcomes.TREATMENT).astype(int)
    d["risk_score"] = pd.to_numeric(d["score"], errors="coerce").astype(float)
    d["uplift_score"] = np.nan
    for day, idx in d.groupby("day").groups.items() if uplift is not None else ():
        scores = uplift(day)
        d.loc[idx, "uplift_score"] = d.loc[idx, "customer_id"].astype(str).map(scores).astype(float)
    return d.reset_index(drop=True)


def evaluate(logged: pd.DataFrame, holdout: float, model_version: str | None) -> Verdict:
    """The verdict on a logged frame (pure apart from the estimator's seeded bootstrap)."""
    if model_version is None:
        return decide(None, "no uplift model @champion yet")
    usable = logged[logged["uplift_score"].notna() & logged["risk_score"].notna()]
    if usable["treated"].sum() < 10 or (1 - usable["treated"]).sum() < 10:
        return decide(None, f"too few decisions with a known {HORIZON_DAYS}-day outcome ({len(usable)})")
    verdict = decide(compare_policies(usable, holdout=holdout, features=FEATURES))
    return Verdict(verdict.targeting, verdict.reason, verdict.comparison, model_version)


def run_policy_check(
    wh: Any, settings: Settings, as_of: date | datetime, *, log_to_mlflow: bool = True
) -> Verdict:
    """Judge risk vs uplift targeting on the log as of ``as_of``; store the verdict, log it to MLflow; return it."""
    from proactive_ml.modeling.uplift_training import load_uplift_champion, score_uplift
    from proactive_ml.outreach.exploration import holdout_share

    day = pd.Timestamp(as_of).date()
    champion = load_uplift_champion(settings)
    model, version = champion if champion is not None else (None, None)
    scorer = (lambda d: score_uplift(wh, model, datetime.combine(d, datetime.min.time()))) if model else None
    logged = logged_decisions(wh, day, scorer)
    h = holdout_share(settings.global_holdout_share, settings.playbook_holdout_share)  # type: ignore[attr-defined]
    verdict = evaluate(logged, h, version)
    store_verdict(wh, day, verdict)
    if log_to_mlflow:
        log_policy_run(settings, day, verdict)
    return verdict


def verdict_row(day: date, verdict: Verdict) -> dict[str, Any]:
    """The ``policy_checks`` row of a verdict."""
    c = verdict.comparison
    row: dict[str, Any] = {
        "as_of": day,
        "checked_at": datetime.now().replace(microsecond=0),
        "targeting": verdict.targeting,
        "switch_to_uplift": verdict.switch_to_uplift,
        "reason": verdict.reason,
        "n_logged": c.n_logged if c else 0,
        "n_explored": c.n_explored if c else 0,
        "diff": c.diff if c else None,
        "diff_lower95": c.diff_lower95 if c else None,
        "uplift_model_version": verdict.model_version,
    }
    for p in POLICIES:
        v = c.values[p] if c else None
        row |= {f"{p}_{k}": getattr(v, k) if v else None for k in ("value", "low", "high")}
    return row


def store_verdict(wh: Any, day: date, verdict: Verdict) -> None:
    """Keep the verdict as the day's row of ``policy_checks`` (a rerun of the day replaces it)."""
    row = pd.DataFrame([verdict_row(day, verdict)])
    with wh.transaction():
        wh.execute("DELETE FROM policy_checks WHERE as_of = :d", {"d": day})
        wh.insert_frame("policy_checks", row, list(row.columns))


def latest_check(wh: Any) -> dict[str, Any] | None:
    """The most recent stored verdict as a dict (None before the first check)."""
    if not wh.table_exists("policy_checks"):
        return None
    df = wh.query("SELECT * FROM policy_checks ORDER BY as_of DESC, checked_at DESC LIMIT 1")
    return None if df.empty else df.iloc[0].to_dict()


def uplift_cleared(wh: Any) -> tuple[bool, str]:
    """Whether the latest policy check lets outreach target by uplift, and its reason in words."""
    last = latest_check(wh)
    if last is None:
        return False, "no policy check has run yet"
    return bool(last["switch_to_uplift"]), str(last["reason"])


def log_policy_run(settings: Settings, day: date, verdict: Verdict) -> str:
    """An MLflow run with the verdict as tags and each policy's value as metrics (aggregates only); run id."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from proactive_ml.measurement.impact import experiment_id

    client = MlflowClient(tracking_uri=settings.resolved_mlflow_uri)
    exp_id = experiment_id(client, settings)
    tags = {"kind": "evaluation", "stage": "policy-check", "as_of": day.isoformat()}
    tags |= {"targeting": verdict.targeting, "switch_to_uplift": str(verdict.switch_to_uplift).lower()}
    run = client.create_run(exp_id, run_name=f"policy-check-{day.isoformat()}", tags=tags)
    ts = int(datetime.combine(day, datetime.min.time()).timestamp() * 1000)
    row = verdict_row(day, verdict)
    names = [k for k in row if k.endswith(("_value", "_low", "_high")) or k in ("diff", "diff_lower95")]
    names += ["n_logged", "n_explored"]
    metrics = [Metric(k, float(row[k]), ts, 0) for k in names if row[k] is not None and np.isfinite(row[k])]
    params = [Param("rule", "uplift only if the one-sided 95% lower bound of (uplift - risk) kept/email > 0")]
    if verdict.model_version:
        params.append(Param("uplift_model_version", verdict.model_version))
    client.log_batch(run.info.run_id, metrics=metrics, params=params, tags=[RunTag("reason", verdict.reason)])
    fig = policy_figure(row)
    if fig is not None:
        client.log_figure(run.info.run_id, fig, "plots/policy_check.png")
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def policy_section(check: dict[str, Any] | None) -> str:
    """The report's section on targeting, in plain words (HTML; empty before the first check)."""
    if not check:
        return ""
    what = (
        "uplift (who an email changes most)"
        if check["switch_to_uplift"]
        else "risk (who is most likely to leave)"
    )
    lines = [
        f"<p>Outreach targets by <b>{what}</b> as of {html.escape(str(check['as_of']))}: "
        f"{html.escape(str(check['reason']))}.</p>"
    ]
    rows = []
    for p, label in POLICY_LABELS.items():
        v, lo, hi = (as_number(check.get(f"{p}_{k}")) for k in ("value", "low", "high"))
        if np.isfinite(v):
            rows.append(f"<tr><td>{label}</td><td>{100 * v:.1f} ({100 * lo:.1f} to {100 * hi:.1f})</td></tr>")
    if rows:
        lines.append(
            "<p>Estimated customers kept per 100 emails at the same daily budget (doubly robust estimate from "
            f"{int(check['n_logged'])} logged decisions, {int(check['n_explored'])} of them drawn at random; "
            "95% intervals):</p><table><tr><th>Targeting</th><th>Kept per 100 emails</th></tr>"
            + "".join(rows)
            + "</table>"
        )
    fig = policy_figure(check)
    if fig is not None:
        lines.append(
            f'<img alt="customers kept per 100 emails under each targeting" src="{png_data_url(fig)}">'
        )
    return "<h2>Which customers to email: the policy check</h2>" + "".join(lines)
