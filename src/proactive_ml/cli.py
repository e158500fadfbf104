"""``proactive-ml`` command line. Only argparse is imported up front, so ``--help`` answers instantly.

Each package contributes its subcommands from a light ``commands`` module (``register(subparsers)``); the
handlers import the heavy libraries (pandas, GX, MLflow, Prefect ...) only when they run.

Exit codes: 0 done, 2 a mistake in the command line or the input (one line says what to fix, no traceback),
1 the system itself failed (with its traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

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
    "proactive_ml.desk.commands",
)

_EXTRAS_PARSER = "_proactive_extras_parser"  # the deepest (sub)parser that met unknown arguments


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and a "did you mean" for mistyped options, commands and choices."""

    def error(self, message: str) -> NoReturn:
        """Print one line naming what to fix (and where help is), then exit 2."""
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Remember which subcommand's parser met the unknown arguments, to suggest its own options."""
        ns, extras = super().parse_known_args(args, namespace)
        if extras and not hasattr(ns, _EXTRAS_PARSER):
            setattr(ns, _EXTRAS_PARSER, self)
        return ns, extras

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """Like argparse, but an unknown option is reported by its subcommand, with the closest option."""
        ns, extras = self.parse_known_args(args, namespace)
        owner: Parser = getattr(ns, _EXTRAS_PARSER, self)
        if hasattr(ns, _EXTRAS_PARSER):
            delattr(ns, _EXTRAS_PARSER)
        if extras:
            owner.error(_unrecognized(owner, extras))
        return ns

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is not None and value not in action.choices:
            choices = [str(c) for c in action.choices]
            close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"choose from {', '.join(choices)}"
            raise argparse.ArgumentError(action, f"invalid choice {value!r}; {hint}")


def _unrecognized(parser: argparse.ArgumentParser, extras: list[str]) -> str:
    """``unrecognized argument --as_of; did you mean --as-of?`` for the first unknown argument."""
    first = extras[0]
    if not first.startswith("-"):
        return f"unexpected argument {first!r}" + (
            f" (and {len(extras) - 1} more)" if len(extras) > 1 else ""
        )
    name = first.split("=", 1)[0]
    options = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]  # noqa: SLF001
    close = difflib.get_close_matches(name.replace("_", "-"), options, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"unrecognized option {name}{hint}"


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every subcommand."""
    parser = Parser(
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
    except UserError as exc:  # a mistake in the input, the settings or the command: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    sys.exit(main())
