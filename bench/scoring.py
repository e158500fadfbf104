"""Scoring benchmark: features + scores + reasons for 1M customers with 50M usage events in DuckDB.

Generates a synthetic warehouse directly in DuckDB SQL (contract tables), registers a small champion model in a
private MLflow store (trained once, on a sample, before the clock starts), then times the one production scoring
path, ``score_targets(wh, settings, as_of, ["churn"])`` as ``proactive-ml score`` runs it: point-in-time features
in SQL, the champion version resolved once, ``settings.partitions`` partitions each scored with the model loaded
once per process (probabilities and top-3 reasons), reassembly and the write to ``scores``. The flows run the
same function with the partitions mapped onto Prefect tasks. Last line: JSON {"score_1m_seconds", ...}.

Usage: ``python bench/scoring.py [--customers 1000000] [--events 50000000] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

AS_OF = date(2026, 7, 1)
TRAIN_CUTOFF = date(2026, 6, 1)


def generate(wh, n_customers: int, n_events: int) -> None:  # type: ignore[no-untyped-def]
    """Fill the raw tables with synthetic rows (vectorised SQL; about a tenth of customers fade out)."""
    n = int(n_customers)
    cid = "'c' || lpad(CAST({x} AS VARCHAR), 8, '0')"
    wh.execute(f"""
        INSERT INTO customers (customer_id, email, name, plan, signup_date, country, timezone, monthly_revenue,
                               marketing_consent, cancelled_at)
        SELECT {cid.format(x="i")}, 'u' || i || '@example.com', 'User ' || i,
               (['free', 'starter', 'pro', 'enterprise'])[CAST(1 + hash(i) % 4 AS INTEGER)],
               DATE '2024-06-01' + CAST(hash(i * 7) % 700 AS INTEGER), 'US', 'UTC',
               CAST(hash(i * 3) % 500 AS DOUBLE), true,
               CASE WHEN hash(i * 11) % 25 = 0
                    THEN TIMESTAMP '2026-04-01' + to_seconds(CAST(hash(i * 5) % 10000000 AS BIGINT)) END
        FROM range({n}) t(i)""")
    # usage: fading customers (hash % 10 = 0) get their events pushed back in time
    wh.execute(f"""
        INSERT INTO usage_events (customer_id, ts, feature, quantity)
        SELECT {cid.format(x="c")},
               TIMESTAMP '2026-07-01' - to_seconds(CAST(
                 (hash(i) % 8640000) * (CASE WHEN hash(c * 17) % 10 = 0 THEN 1.8 ELSE 1.0 END) + 1 AS BIGINT)),
               (['login', 'dashboard_view', 'report_export', 'api_call', 'invite_user', 'integration_sync',
                 'alert_config', 'search', 'comment', 'file_upload'])[CAST(1 + hash(i * 5) % 10 AS INTEGER)],
               CAST(1 + hash(i * 13) % 5 AS BIGINT)
        FROM (SELECT i, i % {n} AS c FROM range({int(n_events)}) t(i))""")
    wh.execute(f"""
        INSERT INTO feedback (feedback_id, customer_id, survey_type, ts, score, comment)
        SELECT 'f' || i, {cid.format(x="(hash(i) % " + str(n) + ")")},
               CASE WHEN i % 3 = 0 THEN 'CSAT' ELSE 'NPS' END,
               TIMESTAMP '2026-07-01' - to_seconds(CAST(1 + hash(i * 3) % 15552000 AS BIGINT)),
               CAST(CASE WHEN i % 3 = 0 THEN 1 + hash(i * 7) % 5 ELSE hash(i * 7) % 11 END AS BIGINT),
               CASE WHEN hash(i * 9) % 4 = 0 THEN 'some comment' END
        FROM range({2 * n}) t(i)""")
    wh.execute(f"""
        INSERT INTO tickets (ticket_id, customer_id, opened_at, closed_at, priority, category, status)
        SELECT 't' || i, {cid.format(x="(hash(i) % " + str(n) + ")")}, o,
               CASE WHEN hash(i * 3) % 3 > 0 THEN o + to_seconds(CAST(hash(i * 5) % 864000 AS BIGINT)) END,
               (['low', 'normal', 'high', 'urgent'])[CAST(1 + hash(i * 7) % 4 AS INTEGER)], 'bug', 'open'
        FROM (SELECT i, TIMESTAMP '2026-07-01' - to_seconds(CAST(1 + hash(i * 11) % 7776000 AS BIGINT)) AS o
              FROM range({n // 2}) t(i))""")


def register_small_champion(wh, settings) -> str:  # type: ignore[no-untyped-def]
    """Fit the logistic candidate on a 50k sample (synthetic labels from fading usage) and make it champion."""
    import mlflow

    from proactive_ml.features.point_in_time import build_features, categorical_features, numeric_features
    from proactive_ml.modeling import registry
    from proactive_ml.modeling.candidates import build_pipeline
    from proactive_ml.modeling.config import load_model_config
    from proactive_ml.modeling.reasons import fit_explainer

    X = build_features(wh, TRAIN_CUTOFF)
    X = X.sample(min(50_000, len(X)), random_state=0)
    rng = np.random.default_rng(0)
    risk = (
        -1.5 * X["usage_change_30d"].clip(-1, 1)
        + 0.6 * X["tickets_open"]
        - 0.2 * X["last_nps"].fillna(7)
        + 0.5
    )
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-risk))).astype(int)
    spec = next(s for s in load_model_config().candidates if s["kind"] == "logistic_regression")
    model = build_pipeline(spec, numeric_features(), categorical_features()).fit(X, y)
    explainer = fit_explainer(X, model.predict_proba(X)[:, 1])
    client = registry.connect(settings)
    exp_id = registry.ensure_experiment(settings, client, "churn")
    with mlflow.start_run(experiment_id=exp_id, run_name="bench-scoring") as run:
        info = mlflow.sklearn.log_model(
            model, name="model", serialization_format="cloudpickle", pip_requirements=["scikit-learn"]
        )
        mlflow.log_dict(explainer.to_dict(), registry.EXPLAINER_FILE)
    version = registry.register_challenger(settings, "churn", info.model_uri, run.info.run_id, "bench")
    registry.set_champion(settings, "churn", version, "bench")
    return version


def main() -> int:
    """Generate, register, time, print JSON."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=50_000_000)
    ap.add_argument("--keep", help="Keep the generated warehouse and MLflow store in this directory.")
    args = ap.parse_args()

    from proactive_ml.modeling.scoring import score_targets
    from proactive_ml.settings import Settings
    from proactive_ml.warehouse import open_warehouse

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-scoring-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        settings = Settings(data_dir=root / "data", _env_file=None)  # type: ignore[call-arg]
        wh = open_warehouse(f"duckdb:///{root / 'bench.duckdb'}")
        t = time.perf_counter()
        if wh.row_count("usage_events") == 0:
            generate(wh, args.customers, args.events)
        gen_s = time.perf_counter() - t
        t = time.perf_counter()
        version = register_small_champion(wh, settings)
        train_s = time.perf_counter() - t

        t, cpu = time.perf_counter(), time.process_time()
        scored = score_targets(wh, settings, AS_OF, ["churn"])["churn"]
        seconds = time.perf_counter() - t
        cpu_seconds = time.process_time() - cpu  # all threads of this process (DuckDB, OpenMP)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB
        with_reason = float(scored["reason_1"].notna().mean())
        out = {
            "score_1m_seconds": round(seconds, 2),
            "peak_rss_gb": round(peak, 2),
            "score_1m_cpu_seconds": round(cpu_seconds, 2),
            "load_average_1m": round(os.getloadavg()[0], 1),
            "customers_scored": len(scored),
            "path": "proactive_ml.modeling.scoring.score_targets (in process)",
            "partitions": settings.partitions,
            "usage_events": int(wh.row_count("usage_events")),
            "share_with_reason": round(with_reason, 3),
            "example_reasons": scored.sort_values("score")
            .tail(1)[["reason_1", "reason_2", "reason_3"]]
            .iloc[0]
            .tolist(),
            "model_version": version,
            "generate_seconds": round(gen_s, 1),
            "train_register_seconds": round(train_s, 1),
        }
        wh.close()
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
