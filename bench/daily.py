"""Time one full simulated day of the whole system for 1M customers (~50M usage events of history), by stage.

Setup (not timed as the day): the world simulates ``--history-days`` days whose rows are bulk-loaded into the
embedded warehouse, and a champion churn model is trained (logistic regression, one cutoff) and registered in
MLflow. Then ONE day runs through the real code paths, each stage timed:

world (the day's landing files) → ingest (GX validation, quarantine, one transaction per file) → features →
score (champion, partitioned, reasons) → outreach (playbooks, policy, holdouts, ledger, delivery through the
official sendgrid client to the local sink) → answers (the world's signed events and replies over HTTP to the
receiver) → responses (validate, dedupe, attribute, suppress).

The last line is JSON with ``day_1m_seconds`` and one ``<stage>_seconds`` per stage.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Set up a warehouse with history and a champion, then time one day by stage."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--history-days", type=int, default=89)
    args = ap.parse_args(argv)

    from rich.progress import track

    from proactive_ml.contract import DATASETS
    from proactive_ml.features.point_in_time import build_features
    from proactive_ml.ingest.files import ingest_path
    from proactive_ml.modeling.scoring import (
        assemble_scores,
        champion_reference,
        score_partition,
        split_partitions,
        write_scores,
    )
    from proactive_ml.modeling.train import train_and_register
    from proactive_ml.outreach.run import run_outreach
    from proactive_ml.responses.processing import process_responses
    from proactive_ml.settings import Settings
    from proactive_ml.sim.answers import answer_world
    from proactive_ml.sim.demo import LocalServices
    from proactive_ml.sim.world import World, WorldConfig
    from proactive_ml.warehouse import Warehouse, open_warehouse

    stages: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench_daily_") as tmp:
        root = Path(tmp) / "data"
        s = Settings(data_dir=root, _env_file=None)  # type: ignore[call-arg]
        world = World(WorldConfig(n_customers=args.customers, seed=42))
        t_setup = time.perf_counter()
        with open_warehouse(s.resolved_warehouse_url) as wh:
            for _ in track(range(args.history_days), description="history"):
                for name, frame in world.step().items():
                    if len(frame):
                        if DATASETS[name].upsert:
                            keys = frame[list(DATASETS[name].key)[0]]
                            with wh.staged(keys.to_frame(), "k") as k:
                                col = DATASETS[name].key[0]
                                wh.execute(f"DELETE FROM {name} WHERE {col} IN (SELECT {col} FROM {k})")
                        wh.insert_frame(name, frame, DATASETS[name].column_names)
            morning = datetime.combine(world.today + timedelta(days=1), datetime.min.time())
            logreg = [
                {
                    "name": "logreg_l2",
                    "kind": "logistic_regression",
                    "params": {"C": 0.3, "class_weight": "balanced", "max_iter": 300},
                }
            ]
            train_and_register(
                wh,
                s,
                morning.date(),
                target="churn",
                candidates=logreg,
                training={"min_history_days": 14, "purge_gap": False, "n_train_cutoffs": 1},
            )
            usage_rows = wh.row_count("usage_events")
        setup_seconds = time.perf_counter() - t_setup

        with LocalServices(s) as services:
            s = s.model_copy(update=services.overrides)

            def stage(name: str, t0: float) -> float:
                now = time.perf_counter()
                stages[f"{name}_seconds"] = round(now - t0, 2)
                return now

            t = t0 = time.perf_counter()
            landing = Path(tmp) / "landing"
            world.write_landing(world.step_tables(), landing, fmt="parquet")
            morning = datetime.combine(world.today + timedelta(days=1), datetime.min.time())
            t = stage("world", t)
            with Warehouse.connect(s.resolved_warehouse_url) as wh:
                ingest_path(wh, landing, s, morning)
                t = stage("ingest", t)
                features = build_features(wh, morning.date())
                t = stage("features", t)
                version = champion_reference(s, "churn")
                parts = [
                    score_partition(p, s, "churn", version) for p in split_partitions(features, s.partitions)
                ]
                write_scores(
                    wh, assemble_scores(parts, s, "churn", version, morning, morning), morning.date(), "churn"
                )
                t = stage("score", t)
                as_of = morning + timedelta(hours=14)
                summary = run_outreach(wh, s, as_of)
                t = stage("outreach", t)
                answer_world(world, s, services.receiver_url, as_of, wh)
                t = stage("answers", t)
                process_responses(wh, s, as_of)
                t = stage("responses", t)
            day = time.perf_counter() - t0
    result = {
        "day_1m_seconds": round(day, 1),
        **stages,
        "customers": args.customers,
        "history_usage_rows": int(usage_rows),
        "emails_sent": int(summary.get("sent", 0)),
        "setup_seconds": round(setup_seconds, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
