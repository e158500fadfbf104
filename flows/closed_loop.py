"""Flow: the whole loop on the simulated world."""

from __future__ import annotations

from prefect import flow

@flow(name="closed-loop")
def closed_loop(customers: int = 5000, days: int = 90) -> None:
    """Placeholder."""
