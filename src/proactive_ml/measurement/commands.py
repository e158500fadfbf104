"""CLI subcommands of the measurement package: ``impact`` and ``report`` (light module: handlers import lazily)."""

from __future__ import annotations

import argparse

from proactive_ml.argtypes import iso_time


def _as_of(value: str | None) -> object:
    from datetime import UTC, datetime

    if value:
        return datetime.fromisoformat(value)
    return datetime.now(UTC).replace(tzinfo=None)  # the CLI is where the wall clock is read


def _impact(args: argparse.Namespace) -> int:
    import pandas as pd

    from proactive_ml.measurement.impact import measure_impact
    from proactive_ml.settings import get_settings
    from proactive_ml.warehouse import open_warehouse

    s = get_settings()
    with open_warehouse(s.resolved_warehouse_url) as wh:
        table = measure_impact(
            wh, pd.Timestamp(_as_of(args.as_of)).date(), s, log_to_mlflow=not args.no_mlflow
        )
    if table.empty:
        print("no decision is old enough to measure yet")
    else:
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(table.round(4).to_string(index=False))
    return 0


def _report(args: argparse.Namespace) -> int:
    import pandas as pd

    from proactive_ml.measurement.report import write_report
    from proactive_ml.settings import get_settings
    from proactive_ml.warehouse import open_warehouse

    s = get_settings()
    with open_warehouse(s.resolved_warehouse_url) as wh:
        path = write_report(wh, s, pd.Timestamp(_as_of(args.as_of)).date())
    print(f"report: {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    """Add this package's subcommands."""
    p = sub.add_parser(
        "impact", help="Treated vs holdout per playbook with 95%% intervals (MLflow + history)."
    )
    p.add_argument("--as-of", type=iso_time, help="Date (ISO); default today (UTC).")
    p.add_argument("--no-mlflow", action="store_true", help="Do not log an MLflow evaluation run.")
    p.set_defaults(func=_impact)
    p = sub.add_parser("report", help="Write the HTML success report to <data_dir>/reports/report.html.")
    p.add_argument("--as-of", type=iso_time, help="Date (ISO); default today (UTC).")
    p.set_defaults(func=_report)
