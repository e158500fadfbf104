"""CLI subcommands of the responses package: ``serve`` and ``responses`` (light module: heavy imports happen inside handlers)."""

from __future__ import annotations

import argparse

from proactive_ml.argtypes import free_port, iso_time, port


def _as_of(value: str | None) -> object:
    from datetime import UTC, datetime

    if value:
        return datetime.fromisoformat(value)
    return datetime.now(UTC).replace(tzinfo=None)  # the CLI is where the wall clock is read


def _serve(args: argparse.Namespace) -> int:
    from proactive_ml.responses.receiver import serve
    from proactive_ml.settings import get_settings
    from proactive_ml.warehouse import open_warehouse

    s = get_settings()
    free_port(args.host, args.port)
    if args.apply_unsubscribes:  # the receiver writes suppressions: the tables must be there
        open_warehouse(s.resolved_warehouse_url).close()
    print(f"receiver on http://{args.host}:{args.port} (raw log: {s.data_dir / 'receiver.sqlite3'})")
    serve(
        s,
        host=args.host,
        port=args.port,
        wh_url=s.resolved_warehouse_url if args.apply_unsubscribes else None,
    )
    return 0


def _responses(args: argparse.Namespace) -> int:
    import json

    from proactive_ml.responses.processing import process_responses
    from proactive_ml.settings import get_settings
    from proactive_ml.warehouse import open_warehouse

    s = get_settings()
    with open_warehouse(s.resolved_warehouse_url) as wh:
        out = process_responses(wh, s, _as_of(args.as_of))  # type: ignore[arg-type]
    print(json.dumps(out, default=str, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    """Add this package's subcommands."""
    p = sub.add_parser(
        "serve", help="Run the receiver (SendGrid event webhook, inbound replies, unsubscribe, ratings)."
    )
    p.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
    p.add_argument("--port", type=port, default=8025, help="Port to listen on (default 8025).")
    p.add_argument(
        "--apply-unsubscribes",
        action="store_true",
        help="Also write one-click unsubscribes to the warehouse at once (PostgreSQL warehouses).",
    )
    p.set_defaults(func=_serve)
    p = sub.add_parser(
        "responses", help="Validate, dedupe and attribute stored events/replies/ratings; suppress."
    )
    p.add_argument("--as-of", type=iso_time, help="Processing time (ISO); default now (UTC).")
    p.set_defaults(func=_responses)
