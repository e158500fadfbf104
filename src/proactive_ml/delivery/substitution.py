"""SendGrid-style substitutions (``%tag%`` -> value), shared by rendering (preview) and the local sink.

Kept free of heavy imports: the sink's file-writer process imports it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache


@lru_cache(maxsize=256)
def _pattern(keys: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True)))


def apply_substitutions(text: str, substitutions: Mapping[str, str]) -> str:
    """Replace each substitution tag by its value in one pass (values are never scanned again)."""
    if not substitutions:
        return text
    return _pattern(tuple(substitutions)).sub(lambda m: substitutions[m.group(0)], text)
