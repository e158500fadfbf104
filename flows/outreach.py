"""Flow: score every active customer with the champion (partitioned), then playbooks, policy and delivery."""

from __future__ import annotations

from prefect import flow

@flow(name="score-and-reach-out")
def outreach_flow(as_of: str | None = None) -> None:
    """Placeholder, wired when scoring lands."""
