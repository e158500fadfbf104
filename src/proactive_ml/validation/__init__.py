"""Data validation with Great Expectations: suites in ``expectations/``, row quarantine, fail-closed gates,
Data Docs. Public API (GX itself is imported only when a batch is validated)."""

from __future__ import annotations

from proactive_ml.validation.batch import (
    BatchResult,
    BatchValidator,
    format_gate_failures,
    validate_batch,
    validate_stream,
)
from proactive_ml.validation.gates import GateResult
from proactive_ml.validation.reingest import export_quarantine, reingest_quarantine
from proactive_ml.validation.store import ensure_tables, list_quarantine, write_quarantine

__all__ = [
    "BatchResult",
    "BatchValidator",
    "GateResult",
    "ensure_tables",
    "export_quarantine",
    "format_gate_failures",
    "list_quarantine",
    "reingest_quarantine",
    "validate_batch",
    "validate_stream",
    "write_quarantine",
]
