"""Small builders of outreach and decision tables for tests and benchmarks (no simulation of behaviour).

``make_sends`` writes n accepted sends to ``customers`` and ``send_ledger``; ``synthetic_decisions`` draws randomized
decisions with a known treatment effect on churn, and ``load_decision_tables`` writes them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from proactive_ml.identity import send_key
from proactive_ml.warehouse import Warehouse, migrate

NOW = 1_795_000_000  # fixed clock (2026-11-18)


def make_sends(wh, n: int = 20) -> pd.DataFrame:
    """Customers and send_ledger rows for n accepted sends (the warehouse is migrated first)."""
    migrate(wh)
    rows, led = [], []
    for i in range(n):
        cid = f"C{i:04d}"
        rows.append(
            {
                "customer_id": cid,
                "email": f"person{i}@example.org",
                "name": f"P {i}",
                "plan": "pro",
                "signup_date": date(2026, 1, 1),
                "country": "DE",
                "timezone": "Europe/Berlin",
                "monthly_revenue": 50.0,
                "marketing_consent": True,
                "cancelled_at": None,
            }
        )
        pb = "renewal" if i % 2 else "onboarding"
        led.append(
            {
                "send_key": send_key(cid, pb, date(2026, 11, 16)),
                "customer_id": cid,
                "playbook": pb,
                "window_start": date(2026, 11, 16),
                "state": "accepted",
                "message_id": "MSG1",
                "attempts": 1,
                "created_at": datetime(2026, 11, 17),
                "updated_at": datetime(2026, 11, 17),
            }
        )
    cust = pd.DataFrame(rows)
    cust["cancelled_at"] = pd.to_datetime(cust["cancelled_at"])
    wh.insert_frame("customers", cust)
    ledger = pd.DataFrame(led)
    wh.insert_frame("send_ledger", ledger)
    return ledger.assign(email=cust["email"])


def synthetic_decisions(n: int = 6000, effect: float = 0.06, seed: int = 1):
    """Decisions on 2 playbooks, 20% holdout; treatment lowers 60-day churn by `effect` (absolute)."""
    rng = np.random.default_rng(seed)
    start = date(2026, 6, 1)
    rows, cust, need = [], [], []
    for i in range(n):
        cid = f"C{i:05d}"
        decided = start + timedelta(days=int(rng.integers(0, 20)))
        arm = "holdout" if rng.random() < 0.2 else "treatment"
        pb = "renewal" if i % 2 else "onboarding"
        p_churn = 0.25 - (effect if arm == "treatment" else 0.0)
        churn = rng.random() < p_churn
        cancelled = (
            datetime.combine(decided, datetime.min.time()) + timedelta(days=int(rng.integers(1, 60)))
            if churn
            else None
        )
        rows.append(
            {"send_key": f"sk_{i:032x}", "as_of": decided, "customer_id": cid, "playbook": pb, "arm": arm}
        )
        cust.append({"customer_id": cid, "cancelled_at": cancelled})
        if rng.random() < 0.3:
            need.append(
                {"customer_id": cid, "ts": datetime.combine(decided, datetime.min.time()) + timedelta(days=3)}
            )
    return pd.DataFrame(rows), pd.DataFrame(cust), pd.DataFrame(need)


def load_decision_tables(wh: Warehouse, dec: pd.DataFrame, cust: pd.DataFrame) -> None:
    """Write ``synthetic_decisions``' decisions (email actions, decided at midnight) and customers."""
    migrate(wh)
    decided_at = pd.to_datetime(dec["as_of"])
    wh.insert_frame("decisions", dec.assign(action="email", decided_at=decided_at))
    cust["cancelled_at"] = pd.to_datetime(cust["cancelled_at"])
    wh.insert_frame("customers", cust)
