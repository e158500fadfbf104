"""PII masking for everything validation writes about data: reasons, gate messages and GX results.

Personal data (addresses, names, free text) may sit in the warehouse and in the quarantine's ``raw_row`` (it must
stay re-ingestable), but never in a message, a log record, a Data Docs page or a stored GX result. Values of a
PII column are replaced by a placeholder naming only their kind (``<masked email>``), so a reason still says
what is wrong (``email='<masked email>' is not a well-formed email address``) without saying whose.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

EMAIL, NAME, TEXT = "<masked email>", "<masked name>", "<masked text>"
_NAME_COLUMNS = frozenset(
    {"name", "first_name", "last_name", "full_name", "contact_name", "display_name", "from_name", "to_name"}
)
_TEXT_COLUMNS = frozenset(
    {"comment", "subject", "text", "body", "body_text", "body_html", "html", "message", "reply", "notes"}
)
_EMAIL_LIKE = re.compile(r"[^\s'\"<>(),;:]*@[^\s'\"<>(),;:]*")
# result fields of a GX expectation that hold the failing values themselves
_VALUE_FIELDS = ("partial_unexpected_list", "unexpected_list")
# ... and the ones that hold row indexes, or {column: value} entries when index columns are asked for
_INDEX_FIELDS = ("partial_unexpected_index_list", "unexpected_index_list")


def placeholder(column: str) -> str | None:
    """The placeholder for values of ``column``, or None when the column holds no personal data."""
    c = column.lower()
    if "email" in c or c in ("from", "to", "address"):
        return EMAIL
    if c in _NAME_COLUMNS:
        return NAME
    if c in _TEXT_COLUMNS or c.endswith(("_comment", "_text", "_subject")):
        return TEXT
    return None


def is_pii(column: str) -> bool:
    """True for a column whose values are personal data (an address, a name, free text)."""
    return placeholder(column) is not None


def mask_emails(text: str) -> str:
    """``text`` with every email-like token (anything around an ``@``) replaced by ``<masked email>``."""
    return _EMAIL_LIKE.sub(EMAIL, text)


def _mask_value(value: Any, token: str) -> Any:
    if isinstance(value, dict):  # an index entry {column: value, ...}
        return {k: (token if is_pii(str(k)) else v) for k, v in value.items()}
    return None if value is None else token


def _mask_index(value: Any, token: str) -> Any:
    if isinstance(value, dict):
        return {k: (token if is_pii(str(k)) else v) for k, v in value.items()}
    return value if isinstance(value, int) else token


def _pii_columns(kwargs: Mapping[str, Any]) -> list[str]:
    cols: list[str] = [str(kwargs[k]) for k in ("column", "column_A", "column_B") if kwargs.get(k)]
    cols += [str(c) for c in kwargs.get("column_list") or []]
    return [c for c in cols if is_pii(c)]


def mask_gx_result(kwargs: Mapping[str, Any], result: dict[str, Any]) -> bool:
    """Mask in place the values in one GX expectation result when the expectation reads a PII column.

    Lists of unexpected values, their counts and index entries, and a textual observed value are replaced by the
    column's placeholder. Returns True when something was masked.
    """
    cols = _pii_columns(kwargs)
    if not cols or not result:
        return False
    token = placeholder(cols[0]) or TEXT
    for f in _VALUE_FIELDS:
        if isinstance(result.get(f), list):
            result[f] = [_mask_value(v, token) for v in result[f]]
    for f in _INDEX_FIELDS:
        if isinstance(result.get(f), list):
            result[f] = [_mask_index(v, token) for v in result[f]]
    if isinstance(result.get("partial_unexpected_counts"), list):
        total = sum(
            int(x.get("count", 1)) for x in result["partial_unexpected_counts"] if isinstance(x, dict)
        )
        result["partial_unexpected_counts"] = [{"value": token, "count": total}] if total else []
    if "unexpected_index_query" in result:
        result["unexpected_index_query"] = None
    obs = result.get("observed_value")
    if isinstance(obs, str) or (isinstance(obs, Iterable) and not isinstance(obs, (dict, bytes))):
        result["observed_value"] = token
    return True
