"""CSV files that stay safe in a spreadsheet: formula injection neutralised on the way out, undone on the way in.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula
(``=HYPERLINK(...)`` in a customer's name becomes a live link). Every CSV the product writes goes through
:func:`write_csv`: a *text* cell starting with one of those characters gets a single quote in front (the OWASP
advice); numbers, dates and booleans stay what they are, and so does a text that is a plain number (``-12.5``).
:func:`restore_text` undoes exactly that prefix when such a file is read back (``quarantine reingest``): one
leading ``'`` is dropped only where quotes precede a dangerous character, i.e. only where :func:`neutralise_text`
added it (a text that itself starts with ``'=`` is written ``''=`` and comes back intact).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

DANGEROUS_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _after_quotes(value: str) -> tuple[int, str]:
    """How many quotes ``value`` starts with, and the rest."""
    rest = value.lstrip(QUOTE)
    return len(value) - len(rest), rest


def neutralise_text(value: object) -> object:
    """``value`` with a ``'`` in front when a spreadsheet would run it as a formula; else unchanged.

    A text such as ``-12.5`` that is a plain number stays as it is (a number to the spreadsheet, not a formula).
    Text that already starts with quotes before a formula character gets one more, so :func:`restore_text` gives
    back exactly the original.
    """
    if not isinstance(value, str):
        return value
    quotes, rest = _after_quotes(value)
    if not rest.startswith(DANGEROUS_STARTS) or (quotes == 0 and _PLAIN_NUMBER.fullmatch(value)):
        return value
    return QUOTE + value


def restore_text(value: object) -> object:
    """Undo :func:`neutralise_text`: drop one leading ``'`` where quotes precede a formula character."""
    if not isinstance(value, str):
        return value
    quotes, rest = _after_quotes(value)
    return value[1:] if quotes and rest.startswith(DANGEROUS_STARTS) else value


def _map_text(frame: pd.DataFrame, fn: Callable[[object], object]) -> pd.DataFrame:
    """A copy of ``frame`` with ``fn`` applied to every text cell (object and string columns; numbers untouched)."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s):
            out[col] = s.map(fn, na_action="ignore")
    return out


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are neutralised (numbers untouched)."""
    return _map_text(frame, neutralise_text)


def restore_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` (read as text) with :func:`restore_text` applied to every text cell."""
    return _map_text(frame, restore_text)


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write ``frame`` as a CSV for people (no index), with formula injection neutralised in text cells."""
    neutralise_frame(frame).to_csv(path, index=False)
