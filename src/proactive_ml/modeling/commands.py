"""CLI subcommands of this package (light module: heavy imports happen inside handlers).

``proactive-ml train | score | promote | rollback | ui``.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime

from proactive_ml.argtypes import free_port, iso_date, port

TARGETS = ("churn", "need")
MODELS = (*TARGETS, "uplift")
LABELS = ("subscription", "inactivity", "snapshot")


def _horizon(value: str) -> int | str:
    if value == "auto":
        return value
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise argparse.ArgumentTypeError(
        f"a positive number of days or 'auto', not {value!r}"
    )  # every registered model: the uplift model is promoted and rolled back alike


def _as_of(value: str | None) -> date:
    if value:
        return date.fromisoformat(value)
    return datetime.now(UTC).date()  # the CLI is one of the two places allowed to read the clock


def _settings():  # type: ignore[no-untyped-def]
    from proactive_ml.settings import get_settings

    return get_settings()


def _train(args: argparse.Namespace) -> int:
    from proactive_ml.modeling.train import train_and_register
    from proactive_ml.modeling.uplift_training import train_and_register_uplift
    from proactive_ml.warehouse import open_warehouse

    s = _settings()
    targets = args.target or (["churn"] if args.label else ["churn", "need"])
    with open_warehouse(s.resolved_warehouse_url) as wh:
        for target in targets:
            if target == "uplift":
                out = train_and_register_uplift(wh, s, _as_of(args.as_of))
            else:
                label = args.label if target == "churn" else None  # the label definitions are churn's
                out = train_and_register(
                    wh, s, _as_of(args.as_of), target=target, label=label, horizon=args.horizon
                )
            print(json.dumps({k: v for k, v in out.items() if k != "metrics"}, default=str))
    return 0


def _score(args: argparse.Namespace) -> int:
    from proactive_ml.modeling.scoring import score_targets
    from proactive_ml.warehouse import open_warehouse

    s = _settings()
    now = datetime.now(UTC).replace(tzinfo=None)
    with open_warehouse(s.resolved_warehouse_url) as wh:
        scored = score_targets(wh, s, _as_of(args.as_of), args.target, scored_at=now)
    for target, df in scored.items():
        version = df["model_version"].iloc[0] if len(df) else None
        print(json.dumps({"target": target, "scored": len(df), "model_version": version}))
    return 0


def _promote(args: argparse.Namespace) -> int:
    from proactive_ml.modeling.registry import promote

    v = promote(_settings(), args.target, args.version, reason=args.reason)
    print(json.dumps({"target": args.target, "champion_version": v}))
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from proactive_ml.modeling.registry import rollback

    v = rollback(_settings(), args.target)
    print(json.dumps({"target": args.target, "champion_version": v}))
    return 0


def ui_settings(data_dir: str | None):  # type: ignore[no-untyped-def]
    """The settings whose MLflow store the UI opens.

    ``--data-dir`` when given; else the configured store, unless it does not exist while the demo's does
    (``make demo`` writes under ``<data_dir>/demo``): a new user's first ``proactive-ml ui`` then shows the demo.
    """
    from pathlib import Path

    from proactive_ml.errors import UserError
    from proactive_ml.settings import get_settings

    if data_dir:
        if not Path(data_dir).is_dir():
            raise UserError(f"--data-dir {data_dir}: no such folder")
        return get_settings(data_dir=Path(data_dir))
    s = get_settings()
    if s.mlflow_tracking_uri:
        return s
    demo = s.data_dir / "demo"
    if not (s.data_dir / "mlflow.db").exists() and (demo / "mlflow.db").exists():
        return get_settings(data_dir=demo)
    return s


def _ui(args: argparse.Namespace) -> int:
    import subprocess

    from proactive_ml.modeling.registry import ui_command

    s = ui_settings(args.data_dir)
    cmd = ui_command(s, port=args.port)
    print(f"MLflow UI on {s.resolved_mlflow_uri} at http://127.0.0.1:{args.port} (Ctrl-C to stop)")
    print(" ".join(cmd))
    if args.print_only:
        return 0
    free_port("127.0.0.1", args.port)
    return subprocess.call(cmd)  # noqa: S603 - our own command line: the environment's mlflow ui on our store


def register(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    """Add this package's subcommands."""
    p = sub.add_parser("train", help="Train churn/need candidates, log them to MLflow, gate the champion.")
    p.add_argument(
        "--target", nargs="+", choices=MODELS, help="default: churn need (churn only with --label)"
    )
    p.add_argument(
        "--as-of", type=iso_date, help="YYYY-MM-DD (default: today, UTC); data strictly before it is used."
    )
    p.add_argument(
        "--label",
        choices=LABELS,
        help="churn label definition (default: models/labels.yaml): cancelled within the horizon, "
        "no event for N days, or the customers file's label column",
    )
    p.add_argument("--horizon", type=_horizon, help="label window in days, or 'auto' (inactivity only)")
    p.set_defaults(func=_train)

    p = sub.add_parser(
        "score", help="Score every active customer with the @champion model (writes `scores`)."
    )
    p.add_argument(
        "--target", nargs="+", choices=TARGETS, default=["churn", "need"], help="default: churn need"
    )
    p.add_argument("--as-of", type=iso_date, help="YYYY-MM-DD cutoff (default: today, UTC).")
    p.set_defaults(func=_score)

    p = sub.add_parser("promote", help="Make a registered model version the champion (moves the alias).")
    p.add_argument("--target", choices=MODELS, required=True, help="which model: churn, need or uplift")
    p.add_argument("--version", required=True, help="registered version number (see the MLflow UI)")
    p.add_argument(
        "--reason", default="promoted by hand", help="why, kept as a tag on the version (default: by hand)"
    )
    p.set_defaults(func=_promote)

    p = sub.add_parser("rollback", help="Move the champion alias back to the previous champion version.")
    p.add_argument("--target", choices=MODELS, required=True, help="which model: churn, need or uplift")
    p.set_defaults(func=_rollback)

    p = sub.add_parser(
        "ui", help="Open the MLflow UI on the local tracking store (the demo's after make demo)."
    )
    p.add_argument("--port", type=port, default=5000, help="port of the UI (default 5000)")
    p.add_argument("--print-only", action="store_true", help="Only print the command.")
    p.add_argument(
        "--data-dir",
        help="the data folder whose store to open (default: PROACTIVE_DATA_DIR, or the demo's when only it exists)",
    )
    p.set_defaults(func=_ui)
