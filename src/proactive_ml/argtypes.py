"""Argument types for the command line: a bad value is refused by argparse with one line naming the option.

Light module (standard library only) so every package's ``commands`` module can use it without slowing ``--help``.
The date and time types return the text they checked: handlers parse it the way they always did.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime
from pathlib import Path


def iso_date(value: str) -> str:
    """A calendar date ``YYYY-MM-DD``."""
    try:
        date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date YYYY-MM-DD ({exc})") from None
    return value


def iso_time(value: str) -> str:
    """A date or a date and time: ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM[:SS]``."""
    try:
        datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date or time YYYY-MM-DD[THH:MM[:SS]] ({exc})"
        ) from None
    return value


def positive_int(value: str) -> int:
    """A whole number above zero."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def port(value: str) -> int:
    """A TCP port, 0 (any free port) to 65535."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {number}")
    return number


def existing_file(value: str) -> str:
    """A file that exists (an input the command reads)."""
    path = Path(value)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{value}: no such file")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{value}: is a folder, not a file")
    return value


def output_file(value: str) -> str:
    """A file to write, in a folder that exists."""
    path = Path(value)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{value}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{value}: folder {path.parent} does not exist")
    return value


def free_port(host: str, number: int) -> None:
    """Refuse, naming ``--port``, a port another program already listens on (before a server starts)."""
    import socket

    from proactive_ml.errors import UserError

    if number == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, number))
        except OSError as exc:
            raise UserError(
                f"--port {number}: cannot listen on {host}:{number} ({exc.strerror}); choose another"
            ) from None
