"""CLI subcommands of this package (light module: heavy imports happen inside handlers).

``proactive-ml quarantine list [--dataset D]`` · ``export --out FILE.csv [--dataset D]`` ·
``reingest FILE.csv [--as-of YYYY-MM-DD]`` · ``proactive-ml validation runs [--dataset D]``.
"""

from __future__ import annotations

import argparse

from proactive_ml.argtypes import existing_file, iso_time, output_file, positive_int


def register(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    """Add this package's subcommands."""
    q = sub.add_parser("quarantine", help="List, export and re-ingest quarantined rows.")
    qs = q.add_subparsers(dest="quarantine_command", metavar="ACTION", required=True)
    p = qs.add_parser("list", help="Show quarantined rows with the expectation and reason.")
    p.add_argument("--dataset", help="Only this dataset.")
    p.add_argument("--limit", type=positive_int, default=50, help="Rows to show (default 50).")
    p.set_defaults(func=_list)
    p = qs.add_parser("export", help="Write quarantined rows to an editable CSV.")
    p.add_argument("--out", type=output_file, required=True, help="CSV file to write.")
    p.add_argument("--dataset", help="Only this dataset.")
    p.set_defaults(func=_export)
    p = qs.add_parser(
        "reingest", help="Validate the fixed rows of an exported CSV again and load those that pass."
    )
    p.add_argument("file", type=existing_file, help="CSV written by `quarantine export` and edited.")
    p.add_argument("--as-of", type=iso_time, help="Validation date (default: now, UTC).")
    p.set_defaults(func=_reingest)
    v = sub.add_parser("validation", help="Validation history and Data Docs.")
    vs = v.add_subparsers(dest="validation_command", metavar="ACTION", required=True)
    p = vs.add_parser("runs", help="List validation runs (newest first) with their Data Docs page.")
    p.add_argument("--dataset", help="Only this dataset.")
    p.set_defaults(func=_runs)


def _warehouse():  # type: ignore[no-untyped-def]
    from proactive_ml.settings import get_settings
    from proactive_ml.warehouse import open_warehouse

    s = get_settings()
    return s, open_warehouse(s.resolved_warehouse_url)


def _list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from proactive_ml.validation.store import list_quarantine

    _, wh = _warehouse()
    df = list_quarantine(wh, args.dataset)
    console = Console()
    table = Table(title=f"quarantine: {len(df)} row(s)" + (f" of {args.dataset}" if args.dataset else ""))
    for c in ("dataset", "source_file", "source_line", "expectation", "reason"):
        table.add_column(c, overflow="fold")
    for r in df.head(args.limit).itertuples():
        table.add_row(r.dataset, r.source_file, str(r.source_line), r.expectation, r.reason)
    console.print(table)
    return 0


def _export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from proactive_ml.validation.reingest import export_quarantine

    _, wh = _warehouse()
    n = export_quarantine(wh, Path(args.out), args.dataset)
    print(f"exported {n} quarantined row(s) to {args.out}")
    return 0


def _reingest(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime
    from pathlib import Path

    from proactive_ml.errors import UserError
    from proactive_ml.validation.reingest import reingest_quarantine

    path = Path(args.file)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    as_of = datetime.fromisoformat(args.as_of) if args.as_of else datetime.now(UTC).replace(tzinfo=None)
    s, wh = _warehouse()
    out = reingest_quarantine(wh, s, path, as_of)
    print(
        f"re-ingested {out['loaded']} of {out['rows']} row(s); still quarantined: {out['still_quarantined']}; "
        f"key already loaded: {out['already_loaded']}; Data Docs: {s.data_docs_dir / 'index.html'}"
    )
    return 0


def _runs(args: argparse.Namespace) -> int:
    from proactive_ml.validation.store import list_runs

    _, wh = _warehouse()
    df = list_runs(wh, args.dataset)
    print(df.to_string(index=False) if len(df) else "no validation runs yet")
    return 0
