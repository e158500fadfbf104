"""Simulated companies that write their data in their OWN formats (not the contract), the way real exports look.

- :mod:`~proactive_ml.sim.companies.retail`: a non-subscription retailer (a whitespace-delimited purchase log
  with no cancellation date, plus a customers file); latent churn with a hidden ground truth for benchmarks.
- :mod:`~proactive_ml.sim.companies.snapshot`: a CRM snapshot export (one row per customer, semicolon-delimited,
  latin-1, decimal commas, a Yes/No churn flag).

The SaaS world (:mod:`proactive_ml.sim.world`) stays the demo default; ``examples/`` maps each of them.
"""

from __future__ import annotations

from proactive_ml.sim.companies.retail import RetailConfig, churn_label, retail_truth, write_retail
from proactive_ml.sim.companies.snapshot import snapshot_frame, write_snapshot

__all__ = [
    "RetailConfig",
    "churn_label",
    "retail_truth",
    "snapshot_frame",
    "write_retail",
    "write_snapshot",
]
