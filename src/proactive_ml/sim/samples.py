"""Synthetic all-string landing frames (as ingestion hands them to validation) and defect injection.

Used by the tests' bad-input battery and by ``bench/validation.py``; independent of the simulated world.
Every frame has the contract columns as text plus ``_line`` (header = line 1) and ``_decode_error``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from proactive_ml import contract

TS_FMT = "%Y-%m-%d %H:%M:%S"


def _finish(cols: dict[str, object], n: int, first_line: int = 2) -> pd.DataFrame:
    df = pd.DataFrame(cols)
    df = df.astype(object).where(df.notna(), None)
    df["_line"] = np.arange(first_line, first_line + n, dtype=np.int64)
    df["_decode_error"] = False
    return df


def _stamps(rng: np.random.Generator, n: int, start: datetime, end: datetime) -> pd.Series:
    secs = rng.integers(0, max(int((end - start).total_seconds()), 1), n)
    return pd.Series(pd.Timestamp(start) + pd.to_timedelta(secs, unit="s")).dt.strftime(TS_FMT)


def customer_ids(n: int, offset: int = 0) -> list[str]:
    """Deterministic customer ids ``c0000001`` ..."""
    return [f"c{i:07d}" for i in range(offset + 1, offset + n + 1)]


def clean_customers(
    n: int,
    day: datetime,
    seed: int = 0,
    offset: int = 0,
    plan_weights: Sequence[float] = (0.4, 0.3, 0.2, 0.1),
) -> pd.DataFrame:
    """``n`` valid customer rows signed up within 365 days before ``day``."""
    rng = np.random.default_rng(seed)
    ids = customer_ids(n, offset)
    signup = _stamps(rng, n, day - timedelta(days=365), day).str.slice(0, 10)
    cancelled = np.where(
        rng.random(n) < 0.1, (pd.Timestamp(day) - pd.Timedelta(hours=2)).strftime(TS_FMT), None
    )
    return _finish(
        {
            "customer_id": ids,
            "email": [f"user{i}@example.com" for i in range(offset, offset + n)],
            "name": [f"Customer {i}" for i in range(offset, offset + n)],
            "plan": rng.choice(contract.PLANS, n, p=np.asarray(plan_weights) / np.sum(plan_weights)),
            "signup_date": signup,
            "country": rng.choice(["DE", "US", "FR", "GB"], n),
            "timezone": rng.choice(["Europe/Berlin", "America/New_York"], n),
            "monthly_revenue": np.round(rng.gamma(2.0, 50.0, n), 2).astype(str),
            "marketing_consent": rng.choice(["true", "false"], n),
            "cancelled_at": cancelled,
        },
        n,
    )


def clean_usage_events(
    n: int, customers: Sequence[str], day: datetime, seed: int = 0, first_line: int = 2
) -> pd.DataFrame:
    """``n`` valid usage rows on the day before ``day`` (unique keys: one row per second)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(day) - pd.Timedelta(days=1)
    offs = (np.arange(n) * 86400 // max(n, 1)) if n <= 86400 else rng.integers(0, 86400 * 1000, n) / 1000
    ts = pd.Series(start + pd.to_timedelta(offs, unit="s")).dt.strftime(TS_FMT + (".%f" if n > 86400 else ""))
    return _finish(
        {
            "customer_id": np.asarray(customers, dtype=object)[rng.integers(0, len(customers), n)],
            "ts": ts,
            "feature": rng.choice(contract.FEATURES, n),
            "quantity": rng.integers(0, 20, n).astype(str),
        },
        n,
        first_line,
    )


def clean_feedback(
    n: int, customers: Sequence[str], day: datetime, seed: int = 0, nps_mean: float = 7.5, offset: int = 0
) -> pd.DataFrame:
    """``n`` valid survey answers from the day before ``day``."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(contract.SURVEY_TYPES, n)
    nps = np.clip(np.round(rng.normal(nps_mean, 2.0, n)), 0, 10).astype(int)
    csat = rng.integers(1, 6, n)
    return _finish(
        {
            "feedback_id": [f"f{i:08d}" for i in range(offset, offset + n)],
            "customer_id": np.asarray(customers, dtype=object)[rng.integers(0, len(customers), n)],
            "survey_type": kind,
            "ts": _stamps(rng, n, day - timedelta(days=1), day),
            "score": np.where(kind == "NPS", nps, csat).astype(str),
            "comment": rng.choice(["great", "slow exports", "", "love the dashboard"], n),
        },
        n,
    )


def clean_tickets(
    n: int, customers: Sequence[str], day: datetime, seed: int = 0, offset: int = 0
) -> pd.DataFrame:
    """``n`` valid tickets opened in the week before ``day``, some closed."""
    rng = np.random.default_rng(seed)
    opened = pd.to_datetime(_stamps(rng, n, day - timedelta(days=7), day - timedelta(hours=12)))
    closed = opened + pd.to_timedelta(rng.integers(600, 40000, n), unit="s")
    is_closed = rng.random(n) < 0.6
    return _finish(
        {
            "ticket_id": [f"t{i:08d}" for i in range(offset, offset + n)],
            "customer_id": np.asarray(customers, dtype=object)[rng.integers(0, len(customers), n)],
            "opened_at": opened.dt.strftime(TS_FMT),
            "closed_at": np.where(is_closed, closed.dt.strftime(TS_FMT), None),
            "priority": rng.choice(contract.TICKET_PRIORITIES, n, p=[0.3, 0.45, 0.2, 0.05]),
            "category": rng.choice(contract.TICKET_CATEGORIES, n),
            "status": np.where(is_closed, "closed", rng.choice(["open", "pending"], n)),
        },
        n,
    )


# defect kind -> (dataset -> (column, bad value or callable)); the expectation each must trigger
DEFECTS: dict[str, dict[str, tuple[str, str | None]]] = {
    "required_null": {
        "customers": ("customer_id", None),  # email, name, plan ... are optional in the contract
        "usage_events": ("customer_id", None),
        "feedback": ("survey_type", None),
        "tickets": ("priority", None),
    },
    "out_of_range": {
        "customers": ("monthly_revenue", "-5.0"),
        "usage_events": ("quantity", "-3"),
        "feedback": ("score", "11"),
        "tickets": ("closed_at", "2000-01-01 00:00:00"),
    },
    "unparseable_date": {
        "customers": ("signup_date", "2026-13-45"),
        "usage_events": ("ts", "yesterday"),
        "feedback": ("ts", "31/02/2026 10:00"),
        "tickets": ("opened_at", "not a date"),
    },
    "future_date": {
        "customers": ("signup_date", "+60d"),
        "usage_events": ("ts", "+60d"),
        "feedback": ("ts", "+60d"),
        "tickets": ("opened_at", "+60d"),
    },
    "wrong_type": {
        "customers": ("marketing_consent", "maybe"),
        "usage_events": ("quantity", "three"),
        "feedback": ("score", "9.5"),
        "tickets": ("closed_at", "soon"),
    },
    "unknown_enum": {
        "feedback": ("survey_type", "CES"),  # customers.plan is free text
        "tickets": ("status", "lost"),
    },
    "malformed_email": {"customers": ("email", "not-an-email")},
    "unknown_customer": {
        "usage_events": ("customer_id", "c_unknown"),
        "feedback": ("customer_id", "c_unknown"),
        "tickets": ("customer_id", "c_unknown"),
    },
    "negative_quantity": {"usage_events": ("quantity", "-1")},
    "duplicate_key": {d: ("<key>", None) for d in contract.DATASETS},
    "broken_encoding": {d: ("<encoding>", None) for d in contract.DATASETS},
}
EXPECTED: dict[str, str] = {
    "required_null": "expect_column_values_to_not_be_null",
    "out_of_range": "expect_column_",
    "unparseable_date": "expect_column_values_to_be_null(_unparseable)",
    "future_date": "expect_column_values_to_be_between",
    "wrong_type": "expect_column_values_to_be_null(_unparseable)",
    "unknown_enum": "expect_column_values_to_be_in_set",
    "malformed_email": "expect_column_values_to_match_regex(email)",
    "unknown_customer": "expect_column_values_to_be_in_set(_known_customer_id)",
    "negative_quantity": "expect_column_values_to_be_between(quantity)",
    "duplicate_key": "unique",
    "broken_encoding": "expect_column_values_to_be_in_set(_decode_error)",
}


def inject_defects(
    dataset: str, frame: pd.DataFrame, share: float, day: datetime, seed: int = 1
) -> tuple[pd.DataFrame, dict[int, str]]:
    """Give ``share`` of the rows one defect of each kind that applies to ``dataset`` (disjoint rows).

    Returns the damaged frame and ``{line: defect kind}`` of every damaged row.
    """
    rng = np.random.default_rng(seed)
    df = frame.copy()
    kinds = [k for k, per in DEFECTS.items() if dataset in per]
    per_kind = max(1, int(round(share * len(df))))
    order = rng.permutation(len(df))
    if per_kind * len(kinds) > len(df) // 2:
        raise ValueError("frame too small for that many defects")
    # the first half of the permutation gets defects, the rest stays clean (duplicates copy clean rows)
    clean_pool = np.sort(order[len(df) // 2 :])
    bad: dict[int, str] = {}
    ds = contract.DATASETS[dataset]
    future = (pd.Timestamp(day) + pd.Timedelta(days=60)).strftime(TS_FMT)
    for k_i, kind in enumerate(kinds):
        rows = order[k_i * per_kind : (k_i + 1) * per_kind]
        col, value = DEFECTS[kind][dataset]
        for r in rows:
            if col == "<key>":
                earlier = clean_pool[clean_pool < r]
                if len(earlier) == 0:
                    continue
                src = int(earlier[rng.integers(0, len(earlier))])
                for kc in ds.key:
                    df.iat[r, df.columns.get_loc(kc)] = df.iat[src, df.columns.get_loc(kc)]
            elif col == "<encoding>":
                texts = [
                    c.name
                    for c in ds.columns
                    if c.type == "string" and c.name != "customer_id" and (c.required or c.name in df.columns)
                ]
                text_col = next((c for c in texts if c not in ds.key), texts[-1])
                df.iat[r, df.columns.get_loc(text_col)] = "caf\ufffd"
                df.iat[r, df.columns.get_loc("_decode_error")] = True
            elif value == "+60d":
                df.iat[r, df.columns.get_loc(col)] = future[:10] if ds.column(col).type == "date" else future
            else:
                df.iat[r, df.columns.get_loc(col)] = value
            bad[int(df["_line"].iat[r])] = kind
    return df, bad
