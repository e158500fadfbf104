"""CLI subcommands ``ingest``, ``sources check`` and ``status`` (light module; heavy imports inside handlers)."""

from __future__ import annotations

import argparse
from datetime import datetime

from proactive_ml.argtypes import existing_file, iso_time, positive_int


def register(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    """Add the ingest subcommands."""
    p = sub.add_parser("ingest", help="validate and load landing files (CSV, Parquet, JSON lines)")
    p.add_argument("path", nargs="?", help="landing folder or file (default: <data_dir>/landing)")
    p.add_argument("--as-of", type=iso_time, help="validation time (default: now, UTC)")
    p.add_argument(
        "--sources",
        type=existing_file,
        help="a sources.yaml mapping the company's files (default: sources_file setting)",
    )
    p.add_argument(
        "--landing", help="with a mapping: the folder its globs are relative to (overrides landing_dir)"
    )
    p.set_defaults(func=_ingest)

    p = sub.add_parser("sources", help="a company's source mapping (sources.yaml)")
    sources_sub = p.add_subparsers(dest="sources_command", metavar="COMMAND", required=True)
    c = sources_sub.add_parser(
        "check", help="show the first mapped rows of each dataset and every problem; writes nothing"
    )
    c.add_argument("--sources", type=existing_file, help="the sources.yaml (default: sources_file setting)")
    c.add_argument("--landing", help="the folder the globs are relative to (overrides landing_dir)")
    c.add_argument("--rows", type=positive_int, default=5, help="mapped rows to show per dataset (default 5)")
    c.add_argument("--as-of", type=iso_time, help="time for the future-date rules (default: now)")
    c.set_defaults(func=_sources_check)

    p = sub.add_parser("status", help="what is in the warehouse")
    p.set_defaults(func=_status)


def _ingest(args: argparse.Namespace) -> int:
    from pathlib import Path

    from proactive_ml.errors import UserError

    if args.path and not Path(args.path).exists():  # before the heavy imports: a typo answers at once
        raise UserError(f"{args.path}: no such file or folder")

    from rich.console import Console

    from proactive_ml.ingest.files import describe_unclaimed, ingest_path, warehouse_summary
    from proactive_ml.ingest.sources import ingest_sources, resolve_sources
    from proactive_ml.settings import get_settings
    from proactive_ml.warehouse import open_warehouse

    s = get_settings()
    as_of = datetime.fromisoformat(args.as_of) if args.as_of else datetime.utcnow()
    config = resolve_sources(s, args.sources)
    landing = args.landing or (args.path if config is not None else None)
    console = Console()
    with open_warehouse(s.resolved_warehouse_url) as wh:
        if config is not None:
            summary = ingest_sources(wh, config, s, as_of, Path(landing) if landing else None)
        else:
            summary = ingest_path(
                wh, Path(args.path) if args.path else s.landing_dir, s, as_of, progress=True
            )
        if summary.unclaimed:
            console.print(
                f"warning: {len(summary.unclaimed)} file(s) are claimed by no dataset (not loaded):"
            )
            console.print(describe_unclaimed(summary.unclaimed), markup=False)
        console.print(
            f"{summary.loaded} files loaded, {summary.skipped} already ingested; "
            f"{summary.inserted} rows inserted, {summary.quarantined} quarantined"
        )
        console.print(warehouse_summary(wh).to_string(index=False))
    return 0


def _sources_check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from proactive_ml.errors import UserError
    from proactive_ml.ingest.check import check_sources, render
    from proactive_ml.ingest.sources import resolve_sources
    from proactive_ml.settings import get_settings

    s = get_settings()
    config = resolve_sources(s, args.sources)
    if config is None:
        raise UserError("no mapping: pass --sources FILE or set PROACTIVE_SOURCES_FILE")
    report = check_sources(
        config,
        Path(args.landing) if args.landing else None,
        rows=args.rows,
        as_of=datetime.fromisoformat(args.as_of) if args.as_of else None,
        max_share=s.quarantine_max_share,
    )
    print(render(report))
    return 0 if report.ok else 2  # problems in the mapping or the files: the user's to fix


def _status(args: argparse.Namespace) -> int:
    from proactive_ml.ingest.files import warehouse_summary
    from proactive_ml.settings import get_settings
    from proactive_ml.warehouse import open_warehouse

    s = get_settings()
    with open_warehouse(s.resolved_warehouse_url) as wh:
        print(f"warehouse: {s.resolved_warehouse_url}")
        print(warehouse_summary(wh).to_string(index=False))
    return 0
