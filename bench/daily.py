"""Time one full simulated day of the whole system for 1M customers (~50M usage events of history), by stage.

Setup (not timed as the day): the world simulates ``--history-days`` days whose rows are bulk-loaded into the
embedded warehouse, and a champion churn model is trained (logistic regression, one cutoff) and registered in
MLflow. Then ONE day runs through the real code paths, each stage timed:

world (the day's landing files) → ingest (GX validation, quarantine, one transaction per file) → features →
score (champion, partitioned, reasons) → outreach (playbooks, policy, holdouts, ledger, delivery through the
official sendgrid client to the local sink) → answers (the world's signed events and replies over HTTP to the
receiver) → responses (validate, dedupe, attribute, suppress).

The last line is JSON with ``day_1m_seconds``, one ``<stage>_seconds`` per stage and ``product_seconds`` (the
product's own stages: ingest + features + score + outreach + responses; the simulated world's work, ``world`` and
``answers``, excluded), also as ``product_seconds_1m`` at 1M customers.

``--series 100000,300000,1000000`` runs the same day at each size, each in its own subprocess with a fresh
temporary warehouse (so ``peak_rss_gb`` is that size's own peak), and prints one JSON line with a ``series`` list:
how cost grows with customers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

PRODUCT_STAGES = ("ingest", "features", "score", "outreach", "responses")


def _load_history(world: Any, s: Any, history_days: int) -> int:
    """Bulk-load ``history_days`` simulated days into the warehouse and register a champion; return usage rows."""
    from rich.progress import track

    from proactive_ml.contract import DATASETS
    from proactive_ml.modeling.train import train_and_register
    from proactive_ml.warehouse import open_warehouse

    with open_warehouse(s.resolved_warehouse_url) as wh:
        for _ in track(range(history_days), description="history"):
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
        return int(wh.row_count("usage_events"))


def _run_day(world: Any, s: Any, landing: Path) -> tuple[dict[str, float], dict[str, Any], float]:
    """Run ONE day through the shipped code paths; return seconds per stage, the outreach summary and the total."""
    from proactive_ml.features.point_in_time import build_features
    from proactive_ml.ingest.files import ingest_path
    from proactive_ml.modeling.scoring import (
        assemble_scores,
        champion_reference,
        score_partition,
        split_partitions,
        write_scores,
    )
    from proactive_ml.outreach.run import run_outreach
    from proactive_ml.responses.processing import process_responses
    from proactive_ml.sim.answers import answer_world
    from proactive_ml.sim.demo import LocalServices
    from proactive_ml.warehouse import Warehouse

    stages: dict[str, float] = {}

    def stage(name: str, t0: float) -> float:
        now = time.perf_counter()
        stages[f"{name}_seconds"] = round(now - t0, 2)
        return now

    with LocalServices(s) as services:
        s = s.model_copy(update=services.overrides)
        t = t0 = time.perf_counter()
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
        return stages, summary, time.perf_counter() - t0


def run_one(customers: int, history_days: int) -> dict[str, Any]:
    """Set up a fresh temporary warehouse with history and a champion, time one day; return the JSON fields."""
    from proactive_ml.settings import Settings
    from proactive_ml.sim.world import World, WorldConfig

    with tempfile.TemporaryDirectory(prefix="bench_daily_") as tmp:
        s = Settings(data_dir=Path(tmp) / "data", _env_file=None)  # type: ignore[call-arg]
        world = World(WorldConfig(n_customers=customers, seed=42))
        t_setup = time.perf_counter()
        usage_rows = _load_history(world, s, history_days)
        setup_seconds = time.perf_counter() - t_setup
        stages, summary, day = _run_day(world, s, Path(tmp) / "landing")
    product = round(sum(stages[f"{name}_seconds"] for name in PRODUCT_STAGES), 2)
    result: dict[str, Any] = {"day_1m_seconds": round(day, 1), **stages, "product_seconds": product}
    if customers == 1_000_000:
        result["product_seconds_1m"] = product
    result.update(
        customers=customers,
        history_usage_rows=usage_rows,
        emails_sent=int(summary.get("sent", 0)),
        setup_seconds=round(setup_seconds, 1),
        peak_rss_gb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
    )
    return result


def run_series(sizes: list[int], history_days: int) -> dict[str, Any]:
    """Run the day once per size, each in a fresh subprocess (own warehouse, own peak memory); collect the rows."""
    load_start = round(os.getloadavg()[0], 2)
    rows = []
    for customers in sizes:
        cmd = [sys.executable, __file__, "--customers", str(customers), "--history-days", str(history_days)]
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
        child = json.loads(done.stdout.strip().splitlines()[-1])
        child["day_seconds"] = child.pop("day_1m_seconds")
        child.pop("product_seconds_1m", None)
        child["product_us_per_customer"] = round(child["product_seconds"] / customers * 1e6, 2)
        rows.append(child)
        print(json.dumps(child), file=sys.stderr, flush=True)
    return {
        "series": rows,
        "history_days": history_days,
        "load_avg_start": load_start,
        "load_avg_end": round(os.getloadavg()[0], 2),
    }


def _sizes(text: str) -> list[int]:
    """Parse ``100000,300000`` into customer counts; a clear one-line error for anything else."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated customer counts, got {text!r}") from None
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"customer counts must be positive, got {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    """One day at ``--customers`` (default), or the same day at each size of ``--series``."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--customers", type=int, default=1_000_000, help="simulated customers (default 1,000,000)"
    )
    ap.add_argument(
        "--history-days", type=int, default=89, help="days of history loaded before the day (default 89)"
    )
    ap.add_argument(
        "--series",
        type=_sizes,
        default=None,
        help="comma-separated customer counts, e.g. 100000,300000,1000000: one subprocess per size",
    )
    args = ap.parse_args(argv)
    if args.series:
        result = run_series(args.series, args.history_days)
    else:
        result = run_one(args.customers, args.history_days)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
