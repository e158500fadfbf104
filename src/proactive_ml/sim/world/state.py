"""The world's state: per-customer and per-ticket numpy arrays, their growth, ids and constants of the story.

One slot per customer (grown geometrically as customers sign up); tickets are parallel arrays. The hidden
per-type parameters of the latent story live here too, so every concern of the world reads the same numbers.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from proactive_ml.contract import TICKET_STATUSES
from proactive_ml.sim.world import text
from proactive_ml.sim.world.config import (
    LOCATIONS,
    PLAN_BASE_PRICE,
    PLAN_MIX_BY_TYPE,
    WorldConfig,
)

DAY_US = 86_400 * 1_000_000
SEND_HORIZONS = (30, 60)  # horizons (days) whose true effect is kept for every send (30: impact, 60: uplift)
SEC_US = 1_000_000
EPOCH = date(1970, 1, 1)

# per response type: home engagement, decline-start multiplier, ticket friction, survey mood, hazard offset,
# NPS answer propensity, open propensity
TYPE_MU = np.array([0.9, 0.05, -1.25, -1.0], dtype=np.float32)
TYPE_DECLINE = np.array([0.5, 2.5, 1.5, 0.3], dtype=np.float32)
TYPE_FRICTION = np.array([-0.2, 0.8, 0.6, -1.2], dtype=np.float32)
TYPE_MOOD = np.array([0.9, -0.35, -1.6, 0.0], dtype=np.float32)
TYPE_HAZARD = np.array([0.0, 0.8, 0.3, -0.5], dtype=np.float32)
TYPE_NPS = np.array([1.0, 1.0, 0.8, 0.35], dtype=np.float32)
TYPE_OPEN = np.array([0.48, 0.44, 0.25, 0.30], dtype=np.float32)
THEME_MIX = np.array([0.2, 0.25, 0.15, 0.15, 0.15, 0.10])
PRIORITY_MIX = np.array([0.25, 0.5, 0.18, 0.07])
PRIORITY_DAYS = np.array([5.0, 3.0, 1.5, 0.5])

STATUS_OPEN, STATUS_PENDING, STATUS_SOLVED, STATUS_CLOSED = (
    TICKET_STATUSES.index(s) for s in TICKET_STATUSES
)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _day_number(d: date) -> int:
    return (d - EPOCH).days


def _str_array(values: tuple[str, ...] | list[str]) -> pa.Array:
    return pa.array(list(values), pa.string())


def format_customer_ids(idx: np.ndarray) -> pa.Array:
    """Customer ids ``C0000001``... for 0-based slot numbers (vectorised in Arrow)."""
    nums = pc.cast(pa.array(np.asarray(idx, dtype=np.int64) + 1), pa.string())
    return pc.binary_join_element_wise("C", pc.utf8_lpad(nums, width=7, padding="0"), "")


def parse_customer_ids(ids: pd.Series | list[str]) -> np.ndarray:
    """Slot numbers of customer ids (``-1`` for ids this world never issued)."""
    s = pd.Series(ids, dtype="str")
    num = pd.to_numeric(s.str.slice(1), errors="coerce")
    ok = s.str.startswith("C") & num.notna()
    out = np.where(ok.to_numpy(), num.fillna(0).to_numpy(dtype=np.int64) - 1, -1)
    return out.astype(np.int64)


def epoch_seconds(ts: Any) -> int:
    """Epoch seconds of a naive-UTC timestamp (datetime, pandas Timestamp or ISO string)."""
    t = pd.Timestamp(ts)
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return int((t - pd.Timestamp(datetime(1970, 1, 1))).total_seconds())


class WorldState:
    """The arrays and counters of a world, how they grow, and the lookups every other concern needs."""

    config: WorldConfig
    rng: np.random.Generator
    day: int
    n: int
    c: dict[str, np.ndarray]
    t: dict[str, np.ndarray]
    next_ticket: int
    next_feedback: int
    steps: int
    h0: float
    _ids_cache: pa.Array | None
    _csat_close_us: np.ndarray
    _sends: list[pd.DataFrame]

    """A seeded simulated customer base that advances one day per :meth:`step`."""

    # per-customer state arrays and their dtypes
    _FIELDS: dict[str, Any] = {
        "rtype": np.int8,
        "plan": np.int8,
        "loc": np.int16,
        "revenue": np.float64,
        "consent": np.bool_,
        "signup": np.int32,
        "cancel_us": np.int64,
        "first": np.int16,
        "last": np.int16,
        "mu0": np.float32,
        "mu": np.float32,
        "e": np.float32,
        "declining": np.bool_,
        "friction": np.float32,
        "theme": np.int8,
        "mood": np.float32,
        "penalty": np.float32,
        "wait": np.float32,
        "open_tickets": np.int16,
        "last_nps": np.int8,
        "last_nps_day": np.int32,
        "bad_address": np.bool_,
        "sg_suppressed": np.int8,
        "unsubscribed": np.bool_,
        "stop_requested": np.bool_,
        "treat_until": np.int32,
        "email_mult": np.float32,
        "emails": np.int16,
        "work_until": np.int32,  # a customer-success person's work changes the hazard until this day
        "work_mult": np.float32,  # ... by this factor (see :mod:`proactive_ml.sim.world.work`)
    }
    _TICKET_FIELDS: dict[str, Any] = {
        "id": np.int64,
        "cust": np.int64,
        "open_us": np.int64,
        "close_us": np.int64,
        "prio": np.int8,
        "cat": np.int8,
        "pending_day": np.int32,
        "close_day": np.int32,
        "final_day": np.int32,
    }

    def _grow(self, k: int) -> slice:
        need = self.n + k
        cap = len(self.c["rtype"])
        if need > cap:
            new_cap = max(need, int(cap * 1.5) + 16)
            for key, arr in self.c.items():
                grown = np.zeros(new_cap, dtype=arr.dtype)
                grown[: self.n] = arr[: self.n]
                self.c[key] = grown
        sl = slice(self.n, need)
        self.n = need
        return sl

    def _add_customers(self, signup_days: np.ndarray) -> np.ndarray:
        cfg, rng = self.config, self.rng
        k = len(signup_days)
        sl = self._grow(k)
        c = self.c
        rtype = rng.choice(4, size=k, p=np.array(cfg.type_mix) / sum(cfg.type_mix)).astype(np.int8)
        mix = np.array(PLAN_MIX_BY_TYPE)[rtype]
        plan = (rng.random(k)[:, None] > np.cumsum(mix, axis=1)).sum(axis=1).clip(0, 3).astype(np.int8)
        loc_w = np.array([w for *_, w in LOCATIONS])
        c["rtype"][sl] = rtype
        c["plan"][sl] = plan
        c["loc"][sl] = rng.choice(len(LOCATIONS), size=k, p=loc_w / loc_w.sum())
        seats = np.where(plan == 2, rng.integers(1, 6, k), 1)
        price = np.array(PLAN_BASE_PRICE)[plan] * seats
        ent = plan == 3
        price[ent] = np.round(np.exp(rng.normal(np.log(1500), 0.5, ent.sum())), -1)
        c["revenue"][sl] = price
        c["consent"][sl] = rng.random(k) < cfg.marketing_consent_rate
        c["signup"][sl] = signup_days
        c["cancel_us"][sl] = -1
        c["first"][sl] = rng.integers(0, len(text.FIRST_NAMES), k)
        c["last"][sl] = rng.integers(0, len(text.LAST_NAMES), k)
        mu0 = TYPE_MU[rtype] + rng.normal(0, 0.35, k)
        c["mu0"][sl] = mu0
        c["mu"][sl] = mu0
        c["e"][sl] = mu0 + rng.normal(0, 0.45, k)
        c["declining"][sl] = False
        c["friction"][sl] = TYPE_FRICTION[rtype] + rng.normal(0, 0.5, k)
        c["theme"][sl] = rng.choice(6, size=k, p=THEME_MIX)
        c["mood"][sl] = TYPE_MOOD[rtype] + rng.normal(0, 0.6, k)
        c["penalty"][sl] = 0
        c["wait"][sl] = 0
        c["open_tickets"][sl] = 0
        c["last_nps"][sl] = -1
        c["last_nps_day"][sl] = -(10**6)
        c["bad_address"][sl] = rng.random(k) < cfg.bounce_rate
        c["sg_suppressed"][sl] = 0
        c["unsubscribed"][sl] = False
        c["stop_requested"][sl] = False
        c["treat_until"][sl] = -(10**6)
        base = np.log(np.array(cfg.effect_multipliers, dtype=np.float64))[rtype]
        c["email_mult"][sl] = np.exp(base * rng.uniform(0.6, 1.4, k))
        c["emails"][sl] = 0
        c["work_until"][sl] = -(10**6)
        c["work_mult"][sl] = 1.0
        self._ids_cache = None
        return np.arange(sl.start, sl.stop)

    def _ids(self) -> pa.Array:
        if self._ids_cache is None or len(self._ids_cache) < self.n:
            self._ids_cache = format_customer_ids(np.arange(self.n))
        return self._ids_cache

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_ids_cache"] = None
        state.pop("_forecast_cache", None)
        state["c"] = {k: v[: self.n].copy() for k, v in self.c.items()}
        return state

    @property
    def today(self) -> date:
        """Date of the last simulated day (the day before ``config.start`` until the first step)."""
        return EPOCH + timedelta(days=self.day)

    def _deliverable(self, idx: np.ndarray) -> np.ndarray:
        c = self.c
        return (~c["bad_address"][idx]) & (c["sg_suppressed"][idx] == 0) & (c["cancel_us"][idx] < 0)
