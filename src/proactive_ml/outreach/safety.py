"""What may go into an email: values without line breaks, NUL, encoded newlines or substitution tags.

Customer data never becomes template source: it is only ever a value. Values that could inject headers (CR, LF,
NUL, encoded newlines) or substitution tags are refused with :class:`UnsafeContent` (the message is dead-lettered
with that reason, or the fact that holds it is left out).
"""

from __future__ import annotations

import re

TAG = re.compile(r"%[a-z0-9_]+%")
# CR, LF, NUL and other line breaks; URL-, backslash-, HTML-entity- and MIME-encoded newlines.
_UNSAFE = re.compile(
    r"[\r\n\x00\x0b\x0c\x85\u2028\u2029]|%0[ad]|%00|\\[rn0]|\\x0[ad]|\\u000[ad]|&#0*1[03];?|&#x0*[ad];?|=\?[^?]*\?[qb]\?",
    re.IGNORECASE,
)
_PLAIN = re.compile(r"[A-Za-z0-9 .,:;!?'()<>/@_+-]*")


class UnsafeContent(ValueError):
    """A value that must not go into an email (the message is refused and dead-lettered)."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"refused: {reason} in {field_name}")
        self.field_name = field_name
        self.reason = reason


def check_safe(value: str, field_name: str) -> str:
    """``value`` unchanged, or :class:`UnsafeContent` if it holds CR/LF/NUL, encoded newlines or substitution tags."""
    if value.isalnum() or (value.isascii() and _PLAIN.fullmatch(value)):  # fast path: nothing to look at
        return value
    if _UNSAFE.search(value):
        raise UnsafeContent(field_name, "line break, NUL or encoded newline")
    if TAG.search(value):
        raise UnsafeContent(field_name, "substitution tag")
    return value


def safe_or_none(value: str | None, field_name: str) -> str | None:
    """``value`` when it is safe, else ``None`` (a fact that cannot be shown is left out, not refused)."""
    if value is None:
        return None
    try:
        return check_safe(value, field_name)
    except UnsafeContent:
        return None
