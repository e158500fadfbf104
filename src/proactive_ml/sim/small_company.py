"""A small deterministic world for modeling tests: raw tables (contract columns) where churn follows usage decline.

Some customers start to decline on a random day: their usage and breadth fall, their NPS drops, they open more
tickets, and most of them cancel 15-45 days later. Everything is a pure function of ``(n_customers, n_days,
seed)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from proactive_ml.contract import DATASETS, FEATURES, PLANS
from proactive_ml.warehouse import Warehouse, migrate

START = date(2026, 1, 1)


@dataclass
class _Story:
    """The hidden story of every customer and the customer x day grid it plays on."""

    ids: np.ndarray
    rate: np.ndarray
    cd: np.ndarray  # customer index of each grid cell
    dd: np.ndarray  # day index of each grid cell
    alive: np.ndarray  # the customer is a customer that day
    since: np.ndarray  # days since the customer started to decline (<= 0: not declining)


def _customers(
    rng: np.random.Generator, n: int, n_days: int, start_ts: pd.Timestamp
) -> tuple[pd.DataFrame, _Story]:
    """The customers table, and the story (signup, decline, churn) the other tables follow."""
    ids = np.array([f"c{i:05d}" for i in range(n)], dtype=object)
    early = rng.random(n) < 0.6
    signup_off = np.where(early, -rng.integers(30, 400, n), rng.integers(0, max(n_days - 60, 1), n))
    signup = start_ts + pd.to_timedelta(signup_off, unit="D")
    plan = rng.choice(np.array(PLANS, dtype=object), n, p=[0.3, 0.35, 0.25, 0.1])
    revenue = np.select([plan == "free", plan == "starter", plan == "pro"], [0.0, 29.0, 99.0], 499.0)
    revenue = np.round(revenue * rng.uniform(0.8, 1.2, n), 2)
    rate = rng.lognormal(1.2, 0.5, n)
    decliner = rng.random(n) < 0.4
    first_day = np.maximum(signup_off, 0)
    decline_day = first_day + 20 + rng.integers(0, n_days, n)
    decline_day = np.where(decliner, decline_day, 10**6)
    churn_day = np.where(decliner & (rng.random(n) < 0.85), decline_day + rng.integers(15, 45, n), 10**6)
    random_churn = (~decliner) & (rng.random(n) < 0.08)
    churn_day = np.where(random_churn, first_day + 30 + rng.integers(0, n_days, n), churn_day)
    churn_day = np.where(churn_day < n_days, churn_day, 10**6)
    cancelled = pd.Series(
        np.where(
            churn_day < n_days, start_ts + pd.to_timedelta(np.minimum(churn_day, n_days), unit="D"), pd.NaT
        )
    )
    cancelled = pd.to_datetime(cancelled) + pd.to_timedelta(rng.integers(0, 86400, n), unit="s")
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "email": [f"user{i}@example.com" for i in range(n)],
            "name": [f"User {i}" for i in range(n)],
            "plan": plan,
            "signup_date": signup.date,
            "country": rng.choice(np.array(["US", "DE", "FR", "GB"], dtype=object), n),
            "timezone": "UTC",
            "monthly_revenue": revenue,
            "marketing_consent": rng.random(n) < 0.9,
            "cancelled_at": cancelled.where(churn_day < n_days),
        }
    )
    # customer x day grid
    grid_c, grid_d = np.meshgrid(np.arange(n), np.arange(n_days), indexing="ij")
    cd, dd = grid_c.ravel(), grid_d.ravel()
    alive = (dd >= first_day[cd]) & (dd < np.minimum(churn_day[cd], n_days))
    return customers, _Story(ids, rate, cd, dd, alive, dd - decline_day[cd])


def _times(rng: np.random.Generator, start_ts: pd.Timestamp, days: np.ndarray, k: int) -> pd.DatetimeIndex:
    """A random second of each of ``days`` (days after ``start_ts``)."""
    return start_ts + pd.to_timedelta(days, unit="D") + pd.to_timedelta(rng.integers(0, 86400, k), "s")


def _usage(rng: np.random.Generator, story: _Story, start_ts: pd.Timestamp) -> pd.DataFrame:
    """Feature use per alive customer-day; use and quantities fall while a customer declines."""
    cd, since = story.cd, story.since
    mult = np.where(since > 0, np.clip(1 - since / 20.0, 0.08, 1.0), 1.0)
    rows = []
    for k, feat in enumerate(FEATURES):
        p_use = np.clip((0.85 - 0.08 * k) * mult, 0, 1)
        use = story.alive & (rng.random(len(cd)) < p_use)
        qty = rng.poisson(story.rate[cd[use]] * mult[use]) + 1
        ts = _times(rng, start_ts, story.dd[use], use.sum())
        rows.append(
            pd.DataFrame({"customer_id": story.ids[cd[use]], "ts": ts, "feature": feat, "quantity": qty})
        )
    usage = pd.concat(rows, ignore_index=True).sort_values(["ts", "customer_id"], ignore_index=True)
    usage["quantity"] = usage["quantity"].astype("int64")
    return usage


def _feedback(rng: np.random.Generator, story: _Story, start_ts: pd.Timestamp) -> pd.DataFrame:
    """Each alive customer-day answers NPS with p=1/30 and CSAT with p=1/45; declining customers score low."""
    cd, declining = story.cd, story.since > 0
    fb_rows = []
    for stype, p, lo, hi in (("NPS", 1 / 30, 0, 10), ("CSAT", 1 / 45, 1, 5)):
        ans = story.alive & (rng.random(len(cd)) < p)
        base = (9 if stype == "NPS" else 4.4) - np.where(declining[ans], 5 if stype == "NPS" else 2.5, 0)
        score = np.clip(np.round(base + rng.normal(0, 1.2, ans.sum())), lo, hi).astype("int64")
        ts = _times(rng, start_ts, story.dd[ans], ans.sum())
        low = score <= (6 if stype == "NPS" else 2)
        comment = np.where(low & (rng.random(ans.sum()) < 0.6), "not happy with it", "")
        comment = np.where(~low & (rng.random(ans.sum()) < 0.2), "works fine", comment)
        fb_rows.append(
            pd.DataFrame(
                {
                    "customer_id": story.ids[cd[ans]],
                    "survey_type": stype,
                    "ts": ts,
                    "score": score,
                    "comment": comment,
                }
            )
        )
    feedback = pd.concat(fb_rows, ignore_index=True).sort_values(["ts", "customer_id"], ignore_index=True)
    feedback.insert(0, "feedback_id", [f"f{i:07d}" for i in range(len(feedback))])
    feedback["comment"] = feedback["comment"].where(feedback["comment"] != "", None)
    return feedback


def _tickets(
    rng: np.random.Generator, story: _Story, start_ts: pd.Timestamp, end_ts: pd.Timestamp
) -> pd.DataFrame:
    """Tickets: more while declining; those not closed by the end stay open."""
    opened = story.alive & (rng.random(len(story.cd)) < np.where(story.since > 0, 0.05, 0.008))
    m = int(opened.sum())
    t_open = _times(rng, start_ts, story.dd[opened], m)
    t_close = t_open + pd.to_timedelta(rng.integers(3600, 12 * 86400, m), unit="s")
    closed = t_close < end_ts
    return pd.DataFrame(
        {
            "ticket_id": [f"t{i:06d}" for i in range(m)],
            "customer_id": story.ids[story.cd[opened]],
            "opened_at": t_open,
            "closed_at": pd.Series(t_close).where(closed),
            "priority": rng.choice(
                np.array(["low", "normal", "high", "urgent"], dtype=object), m, p=[0.3, 0.45, 0.2, 0.05]
            ),
            "category": rng.choice(np.array(["billing", "bug", "how_to"], dtype=object), m),
            "status": np.where(closed, "closed", "open"),
        }
    )


def make_raw_tables(
    n_customers: int = 300, n_days: int = 200, seed: int = 7, start: date = START
) -> dict[str, pd.DataFrame]:
    """The four raw tables of a small simulated company (contract columns, naive-UTC timestamps)."""
    rng = np.random.default_rng(seed)
    start_ts = pd.Timestamp(start)
    customers, story = _customers(rng, n_customers, n_days, start_ts)
    return {
        "customers": customers,
        "usage_events": _usage(rng, story, start_ts),
        "feedback": _feedback(rng, story, start_ts),
        "tickets": _tickets(rng, story, start_ts, start_ts + pd.Timedelta(days=n_days)),
    }


def load_raw_tables(wh: Warehouse, tables: dict[str, pd.DataFrame]) -> None:
    """Migrate the warehouse and bulk-insert the frames into the raw tables."""
    migrate(wh)
    for name, df in tables.items():
        wh.insert_frame(name, df, [c for c in DATASETS[name].column_names if c in df.columns])


def end_date(n_days: int = 200, start: date = START) -> date:
    """The first day after the simulated data (an ``as_of`` that sees everything)."""
    return start + timedelta(days=n_days)


def at(d: date) -> datetime:
    """Midnight of ``d``."""
    return datetime.combine(d, datetime.min.time())


def customer_row(cid: str, signup: date, cancelled: datetime | None = None, plan: str = "pro") -> dict:
    """One customers row with contract columns (for tests that build a customer base by hand)."""
    return {
        "customer_id": cid,
        "email": f"{cid}@example.com",
        "name": f"Name {cid}",
        "plan": plan,
        "signup_date": signup,
        "country": "US",
        "timezone": "UTC",
        "monthly_revenue": 99.0,
        "marketing_consent": True,
        "cancelled_at": cancelled,
        "locale": None,
        "owner": None,
    }
