"""Errors meant for a person: the CLI prints their message without a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix (bad input, missing model, wrong setting); the message says what and where."""


class IngestError(UserError):
    """A landing file was refused. Names the file, the line and the column."""

    def __init__(self, path: str, message: str, line: int | None = None, column: str | None = None) -> None:
        self.path, self.line, self.column = path, line, column
        where = (
            path + (f", line {line}" if line is not None else "") + (f", column {column!r}" if column else "")
        )
        super().__init__(f"{where}: {message}")


class GateFailure(UserError):
    """A fail-closed validation gate stopped the flow before anything was written downstream."""
