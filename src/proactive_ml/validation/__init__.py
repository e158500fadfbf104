"""Data validation with Great Expectations: suites, row quarantine, fail-closed gates, Data Docs.

In: a landing file's all-string rows and the reviewed suite in ``expectations/``. Out: typed valid rows,
quarantined rows (each with every expectation it failed and a reason), gate failures, a Data Docs page, and a row
in ``validation_runs``. Public API below; names resolve lazily (PEP 562), so ``proactive-ml --help`` imports no
pandas or GX.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "BatchResult": "batch",
    "BatchValidator": "validator",
    "format_gate_failures": "batch",
    "record_result": "batch",
    "validate_batch": "batch",
    "validate_stream": "batch",
    "GateResult": "gates",
    "export_quarantine": "reingest",
    "reingest_quarantine": "reingest",
    "list_quarantine": "store",
    "write_quarantine": "store",
}

if TYPE_CHECKING:
    from proactive_ml.validation.batch import (
        BatchResult,
        format_gate_failures,
        record_result,
        validate_batch,
        validate_stream,
    )
    from proactive_ml.validation.gates import GateResult
    from proactive_ml.validation.reingest import export_quarantine, reingest_quarantine
    from proactive_ml.validation.store import list_quarantine, write_quarantine
    from proactive_ml.validation.validator import BatchValidator


def __getattr__(name: str) -> Any:
    """Import the module of a public name on first use."""
    if name in _EXPORTS:
        return getattr(import_module(f"proactive_ml.validation.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'proactive_ml.validation' has no attribute {name!r}")


__all__ = [
    "BatchResult",
    "BatchValidator",
    "GateResult",
    "export_quarantine",
    "format_gate_failures",
    "list_quarantine",
    "record_result",
    "reingest_quarantine",
    "validate_batch",
    "validate_stream",
    "write_quarantine",
]
