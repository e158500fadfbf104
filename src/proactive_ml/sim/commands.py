"""CLI subcommands of the simulator: ``simulate`` and ``mail-sink``.

``simulate`` writes a seeded world as landing files; ``mail-sink`` runs the local SendGrid-compatible server.
Light module: heavy imports happen inside handlers.
"""

from __future__ import annotations

import argparse
from datetime import date


def register(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    """Add the simulator's subcommands."""
    p = sub.add_parser("simulate", help="write a seeded simulated customer world as landing files")
    p.add_argument("--customers", type=int, default=2000, help="number of customers (default 2000)")
    p.add_argument("--days", type=int, default=90, help="simulated days (default 90)")
    p.add_argument(
        "--start", type=date.fromisoformat, default=date(2026, 1, 1), help="first day (YYYY-MM-DD)"
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--format", choices=["csv", "parquet", "jsonl"], default="csv")
    p.add_argument("--out", help="landing folder (default: <data_dir>/landing)")
    p.add_argument(
        "--world-path", help="save the final world here, so it can later answer the emails it gets"
    )
    p.set_defaults(func=_simulate)

    p = sub.add_parser("mail-sink", help="run the local SendGrid-compatible mail server (outbox in data_dir)")
    p.add_argument("--port", type=int, default=3025)
    p.add_argument("--host", default="127.0.0.1")
    p.set_defaults(func=_mail_sink)


def _simulate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from proactive_ml.settings import get_settings
    from proactive_ml.sim.world import simulate_to_landing

    s = get_settings()
    out = Path(args.out) if args.out else s.landing_dir
    summary = simulate_to_landing(
        out,
        n_customers=args.customers,
        days=args.days,
        start=args.start,
        seed=args.seed,
        fmt=args.format,
        progress=True,
        world_path=args.world_path,
    )
    print(f"wrote landing files to {out}: {summary}")
    return 0


def _mail_sink(args: argparse.Namespace) -> int:
    from proactive_ml.settings import get_settings
    from proactive_ml.sim.sink import serve

    s = get_settings()
    print(
        f"mail sink on http://{args.host}:{args.port}  outbox: {s.outbox_dir}  (Ctrl-C to stop)", flush=True
    )
    serve(s, host=args.host, port=args.port)
    return 0
