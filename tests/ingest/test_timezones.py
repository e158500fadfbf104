"""Parquet time zones (issue 16, item 6): an instant with an offset is stored as UTC, not as its wall time.

The attack: 03:00+05:30 was stored as 03:00. It is 21:30 UTC the day before.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from proactive_ml.contract import DATASETS
from proactive_ml.ingest.files import ingest_path
from proactive_ml.ingest.landing import read_raw
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse

INSTANTS = ["2026-01-02T03:00:00+05:30", "2026-01-02T03:00:00-08:00"]
UTC = ["2026-01-01T21:30:00", "2026-01-02T11:00:00"]


def _events(path: Path, zone: str | None = None) -> Path:
    ts = pd.to_datetime(INSTANTS[:1]) if zone is None else pd.to_datetime(INSTANTS[1:]).tz_convert(zone)
    frame = pd.DataFrame({"customer_id": ["C0001"], "ts": ts, "feature": ["login"], "quantity": [1]})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path)
    return path


def test_parquet_timestamps_with_an_offset_are_read_as_utc(tmp_path: Path) -> None:
    ds = DATASETS["usage_events"]
    assert read_raw(_events(tmp_path / "a" / "usage_events.parquet"), ds)["ts"].tolist() == UTC[:1]
    # a named zone (stored by pyarrow with its zone) too
    named = _events(tmp_path / "b" / "usage_events.parquet", "America/Los_Angeles")
    assert read_raw(named, ds)["ts"].tolist() == UTC[1:]


def test_a_parquet_instant_lands_in_the_warehouse_as_utc(
    duck: Warehouse, tmp_path: Path, settings: Settings
) -> None:
    landing = tmp_path / "landing"
    (landing / "customers").mkdir(parents=True)
    (landing / "customers" / "c.csv").write_text(
        "customer_id,email,name,plan,signup_date,country,timezone,monthly_revenue,marketing_consent\n"
        "C0001,a@example.org,A,pro,2025-01-01,IN,Asia/Kolkata,10,true\n"
    )
    _events(landing / "usage_events" / "e.parquet")
    ingest_path(duck, landing, settings, datetime(2026, 1, 3))
    stored = duck.query("SELECT ts FROM usage_events")["ts"].tolist()
    assert [pd.Timestamp(t).isoformat() for t in stored] == UTC[:1]
