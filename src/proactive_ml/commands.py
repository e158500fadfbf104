"""Core CLI subcommands: ``simulate``, ``ingest``, ``status`` (light module; heavy imports inside handlers)."""

from __future__ import annotations

import argparse
from datetime import date, datetime


def register(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    """Add the core subcommands."""
    p = sub.add_parser("simulate", help="write a seeded simulated customer world as landing files")
    p.add_argument("--customers", type=int, default=2000, help="number of customers (default 2000)")
    p.add_argument("--days", type=int, default=90, help="simulated days (default 90)")
    p.add_argument("--start", type=date.fromisoformat, default=date(2026, 1, 1), help="first day (YYYY-MM-DD)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--format", choices=["csv", "parquet", "jsonl"], default="csv")
    p.add_argument("--out", help="landing folder (default: <data_dir>/landing)")
    p.add_argument("--world-path", help="save the final world here, so it can later answer the emails it gets")
    p.set_defaults(func=_simulate)

    p = sub.add_parser("ingest", help="validate and load landing files (CSV, Parquet, JSON lines)")
    p.add_argument("path", nargs="?", help="landing folder or file (default: <data_dir>/landing)")
    p.add_argument("--as-of", type=datetime.fromisoformat, help="validation time (default: now, UTC)")
    p.set_defaults(func=_ingest)

    p = sub.add_parser("status", help="what is in the warehouse")
    p.set_defaults(func=_status)


def _simulate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from proactive_ml.settings import get_settings
    from proactive_ml.world import simulate_to_landing

    s = get_settings()
    out = Path(args.out) if args.out else s.landing_dir
    summary = simulate_to_landing(out, n_customers=args.customers, days=args.days, start=args.start, seed=args.seed,
                                  fmt=args.format, progress=True, world_path=args.world_path)  # fmt: skip
    print(f"wrote landing files to {out}: {summary}")
    return 0


def _ingest(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.console import Console

    from proactive_ml.settings import get_settings
    from proactive_ml.warehouse import Warehouse
    from proactive_ml.warehouse.ingest import ingest_path, warehouse_summary

    s = get_settings()
    as_of = args.as_of or datetime.utcnow()
    path = Path(args.path) if args.path else s.landing_dir
    with Warehouse.connect(s.resolved_warehouse_url) as wh:
        summary = ingest_path(wh, path, s, as_of, progress=True)
        console = Console()
        console.print(f"{summary.loaded} files loaded, {summary.skipped} already ingested; "
                      f"{summary.inserted} rows inserted, {summary.quarantined} quarantined")  # fmt: skip
        console.print(warehouse_summary(wh).to_string(index=False))
    return 0


def _status(args: argparse.Namespace) -> int:
    from proactive_ml.settings import get_settings
    from proactive_ml.warehouse import Warehouse
    from proactive_ml.warehouse.ingest import warehouse_summary

    s = get_settings()
    with Warehouse.connect(s.resolved_warehouse_url) as wh:
        print(f"warehouse: {s.resolved_warehouse_url}")
        print(warehouse_summary(wh).to_string(index=False))
    return 0
