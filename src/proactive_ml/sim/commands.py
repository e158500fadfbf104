"""CLI subcommands of the simulator: ``simulate`` and ``mail-sink``.

``simulate`` writes a seeded world as landing files; ``mail-sink`` runs the local SendGrid-compatible server.
Light module: heavy imports happen inside handlers.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from proactive_ml.argtypes import free_port, iso_date, port, positive_int

COMPANIES = ("saas", "retail", "snapshot")


def register(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    """Add the simulator's subcommands."""
    p = sub.add_parser("simulate", help="write a seeded simulated customer world as landing files")
    p.add_argument(
        "--company",
        choices=COMPANIES,
        default="saas",
        help="saas: the SaaS world in contract files (default); retail: a purchase log with no cancellation "
        "date, in the retailer's own format; snapshot: a CRM export, one row per customer with a churn flag",
    )
    p.add_argument("--customers", type=positive_int, default=2000, help="number of customers (default 2000)")
    p.add_argument(
        "--days", type=positive_int, help="simulated days (default: saas 90, retail 1096 = three years)"
    )
    p.add_argument(
        "--start",
        type=iso_date,
        help="first day, YYYY-MM-DD (default: saas 2026-01-01, retail 2023-07-01); snapshot: the export date (default 2026-06-30)",
    )
    p.add_argument("--seed", type=int, default=42, help="random seed: the same seed writes the same world")
    p.add_argument("--format", choices=["csv", "parquet", "jsonl"], default="csv", help="saas only")
    p.add_argument("--out", help="landing folder (default: <data_dir>/landing)")
    p.add_argument(
        "--world-path",
        help="saas only: save the final world here, so it can later answer the emails it gets",
    )
    p.set_defaults(func=_simulate)

    p = sub.add_parser("mail-sink", help="run the local SendGrid-compatible mail server (outbox in data_dir)")
    p.add_argument("--port", type=port, default=3025, help="port to listen on (default 3025)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.set_defaults(func=_mail_sink)


def _simulate(args: argparse.Namespace) -> int:
    from proactive_ml.settings import get_settings
    from proactive_ml.sim.world import simulate_to_landing

    s = get_settings()
    args.start = date.fromisoformat(args.start) if args.start else None
    out = Path(args.out) if args.out else s.landing_dir
    if args.company != "saas":
        return _simulate_company(args, out)
    summary = simulate_to_landing(
        out,
        n_customers=args.customers,
        days=args.days or 90,
        start=args.start or date(2026, 1, 1),
        seed=args.seed,
        fmt=args.format,
        progress=True,
        world_path=args.world_path,
    )
    print(f"wrote landing files to {out}: {summary}")
    return 0


def _simulate_company(args: argparse.Namespace, out: Path) -> int:
    """The retailer or the snapshot export, written in the company's own format."""
    from dataclasses import replace

    from proactive_ml.sim.companies import RetailConfig, write_retail, write_snapshot

    if args.world_path or args.format != "csv":
        print(
            f"error: --world-path and --format are for --company saas only, not {args.company}",
            file=sys.stderr,
        )
        return 2
    if args.company == "retail":
        cfg = RetailConfig()
        cfg = replace(cfg, days=args.days or cfg.days, start=args.start or cfg.start)
        summary = write_retail(out, n_customers=args.customers, seed=args.seed, config=cfg)
        print(
            f"wrote the retailer's export to {out}: {summary['purchases']:,} purchase lines "
            f"({summary['same_day_repeat_lines']:,} same-day repeats) of {summary['customers']:,} customers, "
            f"{summary['start']} to {summary['end']}; train and score with --as-of {summary['as_of']}"
        )
    else:
        kwargs = {"as_of": args.start} if args.start else {}
        summary = write_snapshot(out, n_customers=args.customers, seed=args.seed, **kwargs)
        print(
            f"wrote the CRM snapshot to {summary['files'][0]}: {summary['customers']:,} customers, "
            f"{summary['churned']:,} flagged Churned=Yes (export date {summary['as_of']})"
        )
    return 0


def _mail_sink(args: argparse.Namespace) -> int:
    from proactive_ml.settings import get_settings
    from proactive_ml.sim.sink import serve

    s = get_settings()
    free_port(args.host, args.port)
    print(
        f"mail sink on http://{args.host}:{args.port}  outbox: {s.outbox_dir}  (Ctrl-C to stop)", flush=True
    )
    serve(s, host=args.host, port=args.port)
    return 0
