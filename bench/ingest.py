"""Time the world generation and the ingestion of 1M customers / ~50M usage events into the embedded warehouse.

Usage: ``python bench/ingest.py [--customers N] [--days D]``. The world writes daily Parquet landing files (what a
company's nightly export looks like); each day is ingested as of the next morning, exactly as the hourly ingest
flow does (GX validation, quarantine, one transaction per file). The last line is JSON with ``world_seconds``,
``ingest_rows_per_s`` and ``peak_rss_gb``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path


def peak_rss_gb() -> float:
    """Peak resident set size of this process in GB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main(argv: list[str] | None = None) -> int:
    """Generate, ingest, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=90)
    args = ap.parse_args(argv)

    from rich.progress import Progress

    from proactive_ml.ingest.files import ingest_path
    from proactive_ml.settings import Settings
    from proactive_ml.sim.world import simulate_to_landing
    from proactive_ml.warehouse import open_warehouse

    start = date(2026, 1, 1)
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        world = simulate_to_landing(
            root / "landing",
            n_customers=args.customers,
            days=args.days,
            start=start,
            fmt="parquet",
            progress=True,
        )
        world_seconds = time.perf_counter() - t0
        settings = Settings(data_dir=root / "data", _env_file=None)  # type: ignore[call-arg]
        rows = 0
        quarantined = 0
        t1 = time.perf_counter()
        with open_warehouse(settings.resolved_warehouse_url) as wh, Progress() as bar:
            task = bar.add_task("ingesting days", total=args.days)
            for i in range(args.days):
                day = start + timedelta(days=i)
                folder = root / "days" / day.isoformat()
                folder.mkdir(parents=True)
                for f in (root / "landing").glob(f"*/{day.isoformat()}.parquet"):
                    (folder / f.parent.name).mkdir(exist_ok=True)
                    f.rename(folder / f.parent.name / f.name)
                summary = ingest_path(
                    wh, folder, settings, datetime.combine(day + timedelta(days=1), datetime.min.time())
                )
                rows += summary.rows
                quarantined += summary.quarantined
                bar.update(task, advance=1)
            usage = wh.row_count("usage_events")
        ingest_seconds = time.perf_counter() - t1
    result = {
        "customers": args.customers,
        "days": args.days,
        "usage_rows": int(world["rows"]["usage_events"]),
        "world_seconds": round(world_seconds, 1),
        "ingest_seconds": round(ingest_seconds, 1),
        "ingest_rows_per_s": round(rows / ingest_seconds),
        "rows_ingested": rows,
        "usage_rows_in_warehouse": int(usage),
        "quarantined": quarantined,
        "peak_rss_gb": round(peak_rss_gb(), 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
