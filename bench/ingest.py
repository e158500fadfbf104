"""Time ingestion: one 10M-row usage backfill file (DuckDB and PostgreSQL), optionally the 90-day daily backfill.

Usage: ``python bench/ingest.py [--rows 10000000] [--customers 1000000] [--no-pg] [--backfill]``.

1. **One large file** (always): a seeded 10M-row usage backfill file (Parquet, like the world's exports) and its
   1M customers are written to a temporary folder. The customers file is loaded first (not timed); then the
   usage file goes through the shipped ingest path (``ingest_path``: read + SHA-256 of the bytes read, GX and
   row validation, gates, quarantine, one transaction). ``ingest_rows_per_s`` on a fresh DuckDB file,
   ``ingest_rows_per_s_pg`` on a fresh PostgreSQL database (``--pg-url``, default the local server; the database
   is created for the run and dropped after it).
2. **The daily backfill** (``--backfill``): the simulated world writes ``--customers`` customers x ``--days``
   daily files of each dataset; each day is ingested as of the next morning, as the hourly flow does (GX on every
   file; the Data Docs pages are built once for the whole backfill, batched as the closed-loop demo does).
   ``backfill_90d_seconds`` is the ingest time (the world's own excluded).

The last line is one JSON object, with ``cpus`` and ``load_avg_1m`` (figures on a shared machine are pessimistic;
``*_cpu_seconds`` is this process's CPU time, which other jobs on the machine do not inflate).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from proactive_ml.contract import FEATURES
from proactive_ml.sim.world.landing import write_dataset_file

END = datetime(2026, 3, 31)  # the large file's last day; ingested the next morning


# ---------------------------------------------------------------------------------------------- files
PLANS = ("free", "starter", "pro", "enterprise")


def customer_ids(n: int) -> pa.Array:
    """``c0000000`` ... : ids of ``n`` customers."""
    return pc.binary_join_element_wise(
        pa.scalar("c"), pc.utf8_lpad(pc.cast(pa.array(np.arange(n)), pa.string()), 7, "0"), ""
    )


def write_customers(path: Path, n: int, seed: int = 1) -> Path:
    """``n`` customers signed up before the usage window (no PII: ids and plans only)."""
    rng = np.random.default_rng(seed)
    signup = np.datetime64("2025-01-01") + rng.integers(0, 300, n).astype("timedelta64[D]")
    tbl = pa.table(
        {
            "customer_id": customer_ids(n),
            "plan": pa.array(np.array(PLANS)[rng.integers(0, len(PLANS), n)]),
            "signup_date": pa.array(signup.astype("datetime64[D]")),
            "monthly_revenue": pa.array(rng.gamma(2.0, 40.0, n).round(2)),
            "marketing_consent": pa.array(rng.random(n) < 0.7),
        }
    )
    return write_dataset_file("customers", tbl, path, "parquet")


def usage_table(n_rows: int, n_customers: int, end: datetime, days: int, seed: int) -> pa.Table:
    """``n_rows`` usage events over the ``days`` before ``end`` (whole seconds, like the world's export)."""
    rng = np.random.default_rng(seed)
    span = days * 86_400
    start = np.datetime64(end - timedelta(days=days), "s")
    ts = start + np.sort(rng.integers(0, span, n_rows)).astype("timedelta64[s]")
    ids = customer_ids(n_customers)
    return pa.table(
        {
            "customer_id": ids.take(pa.array(rng.integers(0, n_customers, n_rows))),
            "ts": pa.array(ts.astype("datetime64[us]")),
            "feature": pa.array(np.array(FEATURES)[rng.integers(0, len(FEATURES), n_rows)]),
            "quantity": pa.array(rng.integers(1, 20, n_rows)),
        }
    )


def write_usage(
    path: Path, n_rows: int, n_customers: int, end: datetime, days: int = 90, seed: int = 2
) -> Path:
    """One usage backfill file of ``n_rows`` rows (Parquet, zstd)."""
    return write_dataset_file(
        "usage_events", usage_table(n_rows, n_customers, end, days, seed), path, "parquet"
    )


def peak_rss_gb() -> float:
    """Peak resident set size of this process in GB (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def one_file(root: Path, url: str, customers: Path, usage: Path) -> dict[str, Any]:
    """Load the customers file, then time the usage file through ``ingest_path``."""
    from proactive_ml.ingest.files import ingest_path
    from proactive_ml.settings import Settings
    from proactive_ml.warehouse import open_warehouse

    settings = Settings(data_dir=root / "data", warehouse_url=url, _env_file=None)  # type: ignore[call-arg]
    as_of = END + timedelta(days=1)
    with open_warehouse(settings.resolved_warehouse_url) as wh:
        ingest_path(wh, customers, settings, as_of)
        t0, c0 = time.perf_counter(), time.process_time()
        summary = ingest_path(wh, usage, settings, as_of)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        stored = wh.row_count("usage_events")
    return {
        "seconds": seconds,
        "cpu": cpu,
        "rows": summary.rows,
        "stored": stored,
        "quarantined": summary.quarantined,
    }


def with_pg_database(base_url: str, run: Any) -> dict[str, Any]:
    """Run ``run(url)`` on a fresh PostgreSQL database, dropped afterwards."""
    import psycopg

    name = f"bench_ingest_{os.getpid()}"
    with psycopg.connect(base_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    try:
        return run(base_url.rsplit("/", 1)[0] + f"/{name}")
    finally:
        with psycopg.connect(base_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def large_file(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """Figures for the one large file on DuckDB (and PostgreSQL unless ``--no-pg``)."""
    t0 = time.perf_counter()
    customers = write_customers(root / "c" / "customers" / f"customers-{END.date()}.parquet", args.customers)
    usage = write_usage(
        root / "u" / "usage_events" / f"backfill-{END.date()}.parquet", args.rows, args.customers, END
    )
    out: dict[str, Any] = {"rows": args.rows, "generate_seconds": round(time.perf_counter() - t0, 1)}
    duck = one_file(
        root / "duck", f"duckdb:///{root / 'duck' / 'warehouse.duckdb'}", customers.parent, usage.parent
    )
    out |= {
        "ingest_seconds": round(duck["seconds"], 2),
        "ingest_rows_per_s": round(duck["rows"] / duck["seconds"]),
        "ingest_cpu_seconds": round(duck["cpu"], 2),
        "rows_stored": duck["stored"],
        "quarantined": duck["quarantined"],
    }
    if not args.no_pg:
        pg = with_pg_database(
            args.pg_url, lambda url: one_file(root / "pg", url, customers.parent, usage.parent)
        )
        out |= {
            "ingest_seconds_pg": round(pg["seconds"], 2),
            "ingest_rows_per_s_pg": round(pg["rows"] / pg["seconds"]),
            "ingest_cpu_seconds_pg": round(pg["cpu"], 2),
            "rows_stored_pg": pg["stored"],
        }
    return out


def backfill(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """The simulated world's daily files, ingested day by day into a fresh DuckDB warehouse."""
    from proactive_ml.ingest.files import ingest_path
    from proactive_ml.settings import Settings
    from proactive_ml.sim.world import simulate_to_landing
    from proactive_ml.validation.gx_run import deferred_data_docs
    from proactive_ml.warehouse import open_warehouse

    start = date(2026, 1, 1)
    t0 = time.perf_counter()
    world = simulate_to_landing(
        root / "landing",
        n_customers=args.customers,
        days=args.days,
        start=start,
        fmt="parquet",
        progress=False,
    )
    world_seconds = time.perf_counter() - t0
    settings = Settings(data_dir=root / "data", _env_file=None)  # type: ignore[call-arg]
    rows = quarantined = files = 0
    seconds = cpu = 0.0
    with open_warehouse(settings.resolved_warehouse_url) as wh, deferred_data_docs(settings):
        for i in range(args.days):
            day = start + timedelta(days=i)
            folder = root / "days" / day.isoformat()
            for f in (root / "landing").glob(f"*/{day.isoformat()}.parquet"):
                (folder / f.parent.name).mkdir(parents=True, exist_ok=True)
                f.rename(folder / f.parent.name / f.name)
            t1, c1 = time.perf_counter(), time.process_time()
            summary = ingest_path(
                wh, folder, settings, datetime.combine(day + timedelta(days=1), datetime.min.time())
            )
            seconds += time.perf_counter() - t1
            cpu += time.process_time() - c1
            rows, quarantined, files = (
                rows + summary.rows,
                quarantined + summary.quarantined,
                files + summary.loaded,
            )
        usage = wh.row_count("usage_events")
    return {
        "backfill_customers": args.customers,
        "backfill_days": args.days,
        "backfill_files": files,
        "backfill_rows": rows,
        "backfill_usage_rows_in_warehouse": int(usage),
        "backfill_quarantined": quarantined,
        "backfill_world_seconds": round(world_seconds, 1),
        "backfill_90d_seconds": round(seconds, 1),
        "backfill_cpu_seconds": round(cpu, 1),
        "backfill_rows_per_s": round(rows / seconds),
        "world_usage_rows": int(world["rows"]["usage_events"]),
    }


def main(argv: list[str] | None = None) -> int:
    """Generate, ingest, print the figures (last line JSON)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="rows of the large usage file")
    ap.add_argument("--customers", type=int, default=1_000_000, help="customers (large file and backfill)")
    ap.add_argument("--days", type=int, default=90, help="days of the backfill (with --backfill)")
    ap.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL run of the large file")
    ap.add_argument(
        "--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres", help="PostgreSQL server"
    )
    ap.add_argument("--backfill", action="store_true", help="also time the daily backfill (customers x days)")
    ap.add_argument("--only-backfill", action="store_true", help="time the daily backfill only")
    args = ap.parse_args(argv)
    result: dict[str, Any] = {"cpus": os.cpu_count(), "load_avg_1m_start": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        if not args.only_backfill:
            result |= large_file(args, Path(tmp) / "large")
        if args.backfill or args.only_backfill:
            result |= backfill(args, Path(tmp) / "backfill")
    result |= {"peak_rss_gb": round(peak_rss_gb(), 2), "load_avg_1m": round(os.getloadavg()[0], 2)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
