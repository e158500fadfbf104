"""CLI subcommands of this package (light module: heavy imports happen inside handlers)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    """Add this package's subcommands."""
