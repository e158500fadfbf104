"""Builders of small outreach warehouses (customers, scores, tables) for tests and benchmarks."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from proactive_ml.identity import send_key
from proactive_ml.outreach import decisions
from proactive_ml.warehouse import Warehouse, migrate

ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC", "Australia/Sydney"]


def create_tables(wh: Warehouse) -> None:
    """Every table of the product (the warehouse's migrations): raw contract tables, scores, outreach tables."""
    migrate(wh)


def make_customers(
    n: int, seed: int = 0, consent_share: float = 0.9, zones: list[str] | None = None, prefix: str = "c"
) -> pd.DataFrame:
    """``n`` customers following the contract."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"{prefix}{i:06d}" for i in range(n)],
            "email": [f"user{i}@example.org" for i in range(n)],
            "name": [f"Kim{i} Doe" for i in range(n)],
            "plan": rng.choice(["free", "starter", "pro", "enterprise"], n, p=[0.3, 0.3, 0.3, 0.1]),
            "signup_date": (
                pd.Timestamp("2026-11-01") - pd.to_timedelta(rng.integers(0, 700, n), unit="D")
            ).date,
            "country": "DE",
            "timezone": rng.choice(zones or ["UTC"], n),
            "monthly_revenue": rng.gamma(2.0, 100.0, n).round(2),
            "marketing_consent": rng.random(n) < consent_share,
            "cancelled_at": pd.Series([pd.NaT] * n, dtype="datetime64[us]"),
        }
    )


def make_scores(customers: pd.DataFrame, cutoff: date, seed: int = 0, low: float = 0.0) -> pd.DataFrame:
    """One churn score per customer with reasons."""
    rng = np.random.default_rng(seed)
    n = len(customers)
    return pd.DataFrame(
        {
            "customer_id": customers["customer_id"],
            "cutoff": cutoff,
            "target": "churn",
            "score": low + (1 - low) * rng.random(n),
            "model_name": "churn",
            "model_version": "1",
            "reason_1": rng.choice(["usage_decline_14d", "open_tickets", "nps_last"], n),
            "reason_2": "tenure_days",
            "reason_3": None,
            "scored_at": datetime.combine(cutoff, datetime.min.time()),
        }
    )


def seed_warehouse(
    wh: Warehouse, customers: pd.DataFrame, cutoff: date, seed: int = 0, low: float = 0.0
) -> None:
    """Tables plus customers and scores."""
    create_tables(wh)
    wh.insert_frame("customers", customers)
    wh.insert_frame("scores", make_scores(customers, cutoff, seed, low))


def plan_direct(
    wh: Warehouse, customers: pd.DataFrame, playbook: str, as_of: date, now: datetime
) -> list[str]:
    """Decisions + planned ledger rows for every customer (treatment), bypassing selection (for delivery tests)."""
    d = pd.DataFrame(
        {
            "customer_id": customers["customer_id"],
            "playbook": playbook,
            "action": "email",
            "arm": "treatment",
            "holdout_kind": None,
            "score": 0.5,
            "uplift": np.nan,
            "expected_value": 10.0,
            "reasons": "usage_decline|open_tickets",
            "as_of": as_of,
            "send_at": pd.Timestamp(now),
        }
    )
    d["send_key"] = [send_key(c, playbook, as_of) for c in d["customer_id"]]
    decisions.record_decisions(wh, d, now=now, cap_days=14)
    return d["send_key"].tolist()
