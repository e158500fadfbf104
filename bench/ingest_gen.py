"""Seeded landing files for ``bench/ingest.py``: customers and one large usage backfill, written with Arrow.

Not a benchmark itself (no JSON line): the bench imports it. Files look like the simulated world's Parquet
exports (contract column order, native timestamp[us]/date32/bool types).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from proactive_ml.contract import FEATURES
from proactive_ml.sim.world.landing import write_dataset_file

PLANS = ("free", "starter", "pro", "enterprise")


def customer_ids(n: int) -> pa.Array:
    """``c0000000`` ... : ids of ``n`` customers."""
    return pc.binary_join_element_wise(
        pa.scalar("c"), pc.utf8_lpad(pc.cast(pa.array(np.arange(n)), pa.string()), 7, "0"), ""
    )


def write_customers(path: Path, n: int, seed: int = 1) -> Path:
    """``n`` customers signed up before the usage window (no PII: ids and plans only)."""
    rng = np.random.default_rng(seed)
    signup = np.datetime64("2025-01-01") + rng.integers(0, 300, n).astype("timedelta64[D]")
    tbl = pa.table(
        {
            "customer_id": customer_ids(n),
            "plan": pa.array(np.array(PLANS)[rng.integers(0, len(PLANS), n)]),
            "signup_date": pa.array(signup.astype("datetime64[D]")),
            "monthly_revenue": pa.array(rng.gamma(2.0, 40.0, n).round(2)),
            "marketing_consent": pa.array(rng.random(n) < 0.7),
        }
    )
    return write_dataset_file("customers", tbl, path, "parquet")


def usage_table(n_rows: int, n_customers: int, end: datetime, days: int, seed: int) -> pa.Table:
    """``n_rows`` usage events over the ``days`` before ``end`` (whole seconds, like the world's export)."""
    rng = np.random.default_rng(seed)
    span = days * 86_400
    start = np.datetime64(end - timedelta(days=days), "s")
    ts = start + np.sort(rng.integers(0, span, n_rows)).astype("timedelta64[s]")
    ids = customer_ids(n_customers)
    return pa.table(
        {
            "customer_id": ids.take(pa.array(rng.integers(0, n_customers, n_rows))),
            "ts": pa.array(ts.astype("datetime64[us]")),
            "feature": pa.array(np.array(FEATURES)[rng.integers(0, len(FEATURES), n_rows)]),
            "quantity": pa.array(rng.integers(1, 20, n_rows)),
        }
    )


def write_usage(
    path: Path, n_rows: int, n_customers: int, end: datetime, days: int = 90, seed: int = 2
) -> Path:
    """One usage backfill file of ``n_rows`` rows (Parquet, zstd)."""
    return write_dataset_file(
        "usage_events", usage_table(n_rows, n_customers, end, days, seed), path, "parquet"
    )
