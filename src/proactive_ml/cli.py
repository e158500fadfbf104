"""``proactive-ml`` command line. Only argparse is imported up front, so ``--help`` answers instantly.

Each package contributes its subcommands from a light ``commands`` module (``register(subparsers)``); the
handlers import the heavy libraries (pandas, GX, MLflow, Prefect ...) only when they run.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from proactive_ml.errors import UserError

COMMAND_MODULES = (
    "proactive_ml.sim.commands",
    "proactive_ml.ingest.commands",
    "proactive_ml.validation.commands",
    "proactive_ml.modeling.commands",
    "proactive_ml.outreach.commands",
    "proactive_ml.responses.commands",
    "proactive_ml.measurement.commands",
    "proactive_ml.erasure.commands",
)


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="proactive-ml",
        description="Reach out to customers before they ask for help or leave.",
        epilog="Settings come from PROACTIVE_* environment variables or .env (see .env.example).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``proactive-ml`` script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a clean one-line message for known user errors; full trace otherwise
        if isinstance(exc, UserError):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    sys.exit(main())
