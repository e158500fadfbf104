"""Time the simulated world: 1M customers over 90 days (~50M usage rows) written as Parquet landing files.

Usage: ``python bench/world_gen.py [--customers N] [--days D] [--fmt parquet|csv|jsonl] [--keep DIR]``.
The last line is JSON: ``{"world_seconds": .., "usage_rows": .., "peak_rss_gb": .., ...}``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path


def peak_rss_gb() -> float:
    """Peak resident set size of this process in GB (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / (1024**2) if sys.platform != "darwin" else kib / 1024**3


def run(customers: int, days: int, fmt: str, out: Path, progress: bool) -> dict[str, object]:
    """Simulate into ``out`` and return the figures."""
    from proactive_ml.sim.world import simulate_to_landing

    t0 = time.perf_counter()
    summary = simulate_to_landing(
        out, n_customers=customers, days=days, start=date(2026, 1, 1), seed=42, fmt=fmt, progress=progress
    )
    seconds = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    rows = summary["rows"]
    assert isinstance(rows, dict)
    return {
        "world_seconds": round(seconds, 2),
        "usage_rows": int(rows["usage_events"]),
        "peak_rss_gb": round(peak_rss_gb(), 3),
        "customers": customers,
        "days": days,
        "format": fmt,
        "rows": rows,
        "usage_rows_per_s": round(rows["usage_events"] / seconds),
        "landing_gb": round(size / 1024**3, 3),
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run once, print the JSON line."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--fmt", default="parquet", choices=["parquet", "csv", "jsonl"])
    ap.add_argument("--keep", type=Path, default=None, help="write here and keep the files")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    if args.keep:
        result = run(args.customers, args.days, args.fmt, args.keep, not args.no_progress)
    else:
        with tempfile.TemporaryDirectory(prefix="world_gen_") as tmp:
            result = run(args.customers, args.days, args.fmt, Path(tmp) / "landing", not args.no_progress)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
