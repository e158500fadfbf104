"""Measured impact of the outreach: treated vs randomized holdout, per playbook and overall.

Intent-to-treat on the ``decisions`` table (the holdout is a salted hash of the customer id, so arms are random
among decided customers): for each decision old enough, was the customer still a customer 30/60/90 days later
(``customers.cancelled_at``), and did they need help within 30 days (a ticket or a detractor survey, the modeling
``need`` label)? Both are defined once in :mod:`proactive_ml.features.outcomes`. The difference of rates comes with
a 95% interval (Newcombe's score interval for the 0/1 outcomes, see :mod:`proactive_ml.measurement.intervals`;
a streaming percentile bootstrap and the plain Wald interval are available), and *customers kept* =
difference x treated n, with the interval scaled the same way.

:func:`impact_table` is pure; :func:`measure_impact` is the edge (warehouse read, ``impact_history`` write,
MLflow evaluation run in experiment ``proactive-impact``; only aggregate numbers, no ids or PII).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from proactive_ml.csvsafe import neutralise_frame
from proactive_ml.features import outcomes
from proactive_ml.measurement.adjusted import adjust
from proactive_ml.measurement.intervals import Z95, bootstrap_ci, diff_ci, wald_interval
from proactive_ml.settings import Settings

HORIZONS = (30, 60, 90)
NEED_HORIZON = outcomes.NEED_HORIZON_DAYS
ALL = "ALL"
EXPERIMENT = "proactive-impact"
COLUMNS = [
    "playbook",
    "outcome",
    "n_treated",
    "n_holdout",
    "rate_treated",
    "rate_holdout",
    "diff",
    "ci_low",
    "ci_high",
    "kept",
    "kept_low",
    "kept_high",
]
#: the regression-adjusted estimate (:mod:`~.adjusted`) next to the plain one; not kept in ``impact_history``
ADJUSTED_COLUMNS = ["adj_diff", "adj_low", "adj_high", "width_ratio"]
#: days of usage before a decision that count as its pre-period
USAGE_PRE_DAYS = 28
USAGE_PRE_SQL = f"""
SELECT d.send_key, sum(coalesce(u.quantity, 1)) AS usage_pre
FROM decisions d JOIN usage_events u ON u.customer_id = d.customer_id
  AND u.ts >= d.as_of - INTERVAL '{USAGE_PRE_DAYS} days' AND u.ts < d.as_of
WHERE d.arm IN ('treatment', 'holdout')
GROUP BY d.send_key
"""


def outcomes_frame(
    decisions: pd.DataFrame, customers: pd.DataFrame, need_events: pd.DataFrame, as_of: date | datetime
) -> pd.DataFrame:
    """One row per randomized decision with its outcomes (NaN when the window has not ended by ``as_of``).

    ``need_events``: customer_id, ts - tickets opened and detractor survey answers.
    """
    d = outcomes.randomized(decisions).copy()
    d["decided"] = pd.to_datetime(d["as_of"])
    cancel = customers.drop_duplicates("customer_id").set_index("customer_id")["cancelled_at"]
    if len(d):
        cancelled = pd.to_datetime(d["customer_id"].map(cancel))
    else:  # no decision yet (pandas cannot map an empty frame onto datetimes)
        cancelled = pd.Series(pd.NaT, index=d.index, dtype="datetime64[ns]")
    for h in HORIZONS:
        d[f"retained_{h}d"] = outcomes.retained_known(d["decided"], cancelled, h, as_of)
    need = outcomes.need_within(d, need_events, NEED_HORIZON)
    d[f"need_{NEED_HORIZON}d"] = need.where(outcomes.window_ended(d["decided"], NEED_HORIZON, as_of))
    return d


__all__ = ["Z95", "bootstrap_ci", "diff_ci", "impact_table", "measure_impact", "outcomes_frame"]


def _interval(a: np.ndarray, b: np.ndarray, method: str) -> tuple[float, float, float]:
    if method == "bootstrap":
        return bootstrap_ci(a, b)
    if method == "wald":
        return wald_interval(np.asarray(a, float), np.asarray(b, float))
    return diff_ci(a, b)


def impact_table(rows: pd.DataFrame, method: str = "newcombe") -> pd.DataFrame:
    """Treated vs holdout per playbook and overall (``ALL``: first decision per customer) for each outcome.

    ``method``: ``newcombe`` (default: score interval for 0/1 outcomes), ``bootstrap`` or ``wald``. Each row also
    has the cross-fitted regression-adjusted difference (:func:`~.adjusted.adjust`, on the covariates ``score`` and
    ``usage_pre`` when ``rows`` has them) with its interval and ``width_ratio`` (adjusted / plain width).
    """
    outs = [f"retained_{h}d" for h in HORIZONS] + [f"need_{NEED_HORIZON}d"]
    groups: list[tuple[str, pd.DataFrame]] = []
    groups.append((ALL, outcomes.first_per_customer(rows)))
    for pb, g in rows.groupby("playbook", sort=True):
        groups.append((str(pb), outcomes.first_per_customer(g)))
    rows = []
    for pb, g in groups:
        for o in outs:
            v = g[g[o].notna()]
            a = v.loc[v["arm"] == outcomes.TREATMENT, o].to_numpy()
            b = v.loc[v["arm"] == outcomes.HOLDOUT, o].to_numpy()
            if len(a) < 2 or len(b) < 2:
                continue
            diff, lo, hi = _interval(a, b, method)
            kept = (diff * len(a), lo * len(a), hi * len(a)) if o.startswith("retained") else (np.nan,) * 3
            adj = adjust(v, o, (v["arm"] == outcomes.TREATMENT).to_numpy())
            rows.append([pb, o, len(a), len(b), a.mean(), b.mean(), diff, lo, hi, *kept, *_adj_cols(adj)])
    return pd.DataFrame(rows, columns=COLUMNS + ADJUSTED_COLUMNS)


def _adj_cols(adj: Any) -> tuple[float, float, float, float]:
    return adj.diff, adj.low, adj.high, adj.width_ratio


# ------------------------------------------------------------------ the edge
def _load(wh: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Decisions (with the pre-decision covariates score and log(1 + usage before)), customers, need events."""
    dec = wh.query("SELECT send_key, as_of, customer_id, playbook, arm, score FROM decisions")
    usage = wh.query(USAGE_PRE_SQL).set_index("send_key")["usage_pre"].astype(float)
    dec["usage_pre"] = np.log1p(dec["send_key"].map(usage).fillna(0.0).clip(lower=0).astype(float))
    cust = wh.query("SELECT customer_id, cancelled_at FROM customers")
    need = wh.query(outcomes.NEED_EVENTS_SQL)
    return dec, cust, need


def measure_impact(
    wh: Any,
    as_of: date | datetime,
    settings: Settings | None = None,
    *,
    log_to_mlflow: bool = True,
    method: str = "newcombe",
) -> pd.DataFrame:
    """Impact per playbook and overall as of ``as_of``; kept in ``impact_history`` and logged to MLflow."""
    from proactive_ml.measurement import variants as v  # the variants reuse this module's estimator

    dec, cust, need = _load(wh)
    rows = outcomes_frame(dec, cust, need, as_of)
    table = impact_table(rows, method=method)
    by_variant, responses = v.variant_inputs(wh)
    variant_rows = v.variant_table(v.with_variants(rows, by_variant), responses)
    day = pd.Timestamp(as_of).date()
    measured_at = datetime.combine(day, datetime.min.time())
    with wh.transaction():
        wh.execute("DELETE FROM impact_history WHERE as_of = :d", {"d": day})
        if len(table):
            wh.insert_frame(
                "impact_history",
                table.assign(as_of=day, measured_at=measured_at),
                ["as_of", *COLUMNS, "measured_at"],
            )
    if log_to_mlflow and settings is not None and len(table):
        log_impact_run(table, settings, day, variant_rows, _figures(wh, table, rows, day))
    return table


def _figures(wh: Any, table: pd.DataFrame, rows: pd.DataFrame, day: date) -> dict[str, Any]:
    """The report's charts for the MLflow run (the same functions draw the HTML report's)."""
    from proactive_ml.measurement.charts import make_figures
    from proactive_ml.responses.processing import response_rates

    history = wh.query("SELECT * FROM impact_history WHERE as_of <= :d", {"d": day})
    return make_figures(table, history, response_rates(wh), rows)


def _safe(name: object) -> str:
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in str(name))


def _variant_metrics(variants: pd.DataFrame | None, ts: int) -> list[Metric]:
    """``<playbook>.variant_<name>.<outcome>.<stat>``: each variant's retention difference vs holdout, rates."""
    out: list[Metric] = []
    for r in (variants if variants is not None else pd.DataFrame()).itertuples(index=False):
        pre = f"{_safe(r.playbook)}.variant_{_safe(r.variant)}"
        for name in ("diff", "ci_low", "ci_high", "n_treated", "n_holdout"):
            val = float(getattr(r, name))
            if np.isfinite(val):
                out.append(Metric(f"{pre}.{r.outcome}.{name}", val, ts, 0))
        for name in ("reply", "unsubscribe"):
            val = float(getattr(r, name))
            if np.isfinite(val):
                out.append(Metric(f"{pre}.{name}_rate", val, ts, 0))
    return out


def experiment_id(client: MlflowClient, settings: Settings) -> str:
    """The id of the ``proactive-impact`` experiment (impact and policy-check runs), created on first use."""
    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is not None:
        return str(exp.experiment_id)
    try:
        return str(
            client.create_experiment(
                EXPERIMENT, artifact_location=settings.resolved_artifact_root + "/" + EXPERIMENT
            )
        )
    except Exception:  # created concurrently by another run
        return str(client.get_experiment_by_name(EXPERIMENT).experiment_id)  # type: ignore[union-attr]


def log_impact_run(
    table: pd.DataFrame,
    settings: Settings,
    as_of: date,
    variants: pd.DataFrame | None = None,
    figures: dict[str, Any] | None = None,
) -> str:
    """Log the impact table (and the per-variant table) as an MLflow evaluation run (aggregates only); run id.

    ``figures`` (name -> matplotlib figure, :func:`~.charts.make_figures`) go to ``plots/<name>.png``.
    """
    client = MlflowClient(tracking_uri=settings.resolved_mlflow_uri)
    exp_id = experiment_id(client, settings)
    run = client.create_run(
        exp_id,
        run_name=f"impact-{as_of.isoformat()}",
        tags={"kind": "evaluation", "stage": "impact", "as_of": as_of.isoformat()},
    )
    ts = int(datetime.combine(as_of, datetime.min.time()).timestamp() * 1000)
    metrics = []
    for r in table.itertuples(index=False):
        safe_pb = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in r.playbook)
        for name in ("diff", "ci_low", "ci_high", "kept", "kept_low", "kept_high", "n_treated", "n_holdout"):
            val = float(getattr(r, name))
            if np.isfinite(val):
                metrics.append(Metric(f"{safe_pb}.{r.outcome}.{name}", val, ts, 0))
        for name in ADJUSTED_COLUMNS if r.playbook == ALL else ():
            val = float(getattr(r, name, np.nan))
            if np.isfinite(val):
                metrics.append(Metric(f"{safe_pb}.{r.outcome}.{name}", val, ts, 0))
    metrics += _variant_metrics(variants, ts)
    for i in range(0, len(metrics), 900):
        client.log_batch(run.info.run_id, metrics=metrics[i : i + 900])
    client.log_batch(
        run.info.run_id,
        params=[Param("as_of", as_of.isoformat()), Param("ci", "95% Newcombe score (0/1 outcomes)")],
        tags=[RunTag("playbooks", ",".join(sorted(set(table["playbook"]))))],
    )
    client.log_text(run.info.run_id, neutralise_frame(table).to_csv(index=False), "impact.csv")
    if variants is not None and len(variants):
        client.log_text(run.info.run_id, neutralise_frame(variants).to_csv(index=False), "variants.csv")
    for name, fig in (figures or {}).items():
        client.log_figure(run.info.run_id, fig, f"plots/{name}.png")
    client.set_terminated(run.info.run_id)
    return run.info.run_id
