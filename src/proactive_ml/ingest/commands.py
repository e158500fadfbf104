"""CLI subcommands ``ingest`` and ``status`` (light module; heavy imports inside handlers)."""

from __future__ import annotations

import argparse
from datetime import datetime


def register(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    """Add the ingest subcommands."""
    p = sub.add_parser("ingest", help="validate and load landing files (CSV, Parquet, JSON lines)")
    p.add_argument("path", nargs="?", help="landing folder or file (default: <data_dir>/landing)")
    p.add_argument("--as-of", type=datetime.fromisoformat, help="validation time (default: now, UTC)")
    p.set_defaults(func=_ingest)

    p = sub.add_parser("status", help="what is in the warehouse")
    p.set_defaults(func=_status)


def _ingest(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.console import Console

    from proactive_ml.ingest.files import ingest_path, warehouse_summary
    from proactive_ml.settings import get_settings
    from proactive_ml.warehouse import open_warehouse

    s = get_settings()
    as_of = args.as_of or datetime.utcnow()
    path = Path(args.path) if args.path else s.landing_dir
    with open_warehouse(s.resolved_warehouse_url) as wh:
        summary = ingest_path(wh, path, s, as_of, progress=True)
        console = Console()
        console.print(
            f"{summary.loaded} files loaded, {summary.skipped} already ingested; "
            f"{summary.inserted} rows inserted, {summary.quarantined} quarantined"
        )
        console.print(warehouse_summary(wh).to_string(index=False))
    return 0


def _status(args: argparse.Namespace) -> int:
    from proactive_ml.ingest.files import warehouse_summary
    from proactive_ml.settings import get_settings
    from proactive_ml.warehouse import open_warehouse

    s = get_settings()
    with open_warehouse(s.resolved_warehouse_url) as wh:
        print(f"warehouse: {s.resolved_warehouse_url}")
        print(warehouse_summary(wh).to_string(index=False))
    return 0
