"""The simulated SaaS customer world: a seeded, vectorised day-by-day generator.

State lives in numpy arrays (one slot per customer, grown geometrically as customers sign up); every day is a
handful of array operations over all customers, so 1M customers cost about as much Python as 2,000.

The latent story, per customer:

* a hidden **response type** (sure_thing, persuadable, lost_cause, sleeping_dog) drawn first; it shapes the plan,
  the home level of engagement, the friction with the product and the survey mood, so it correlates with what
  the company can observe;
* a latent **engagement** that mean-reverts to a personal level which itself can enter a declining trajectory;
  usage (active days, breadth of features, quantities) follows engagement;
* **friction** drives support tickets; tickets that stay open or take long to solve hurt the experience, which
  drives NPS/CSAT scores and the tone and theme of comments;
* churn is a daily **hazard** of the latent state (low engagement, decline, open tickets, slow support, detractor
  scores, plan, tenure), calibrated to ``WorldConfig.monthly_churn`` on the initial base;
* a proactive email multiplies the hazard for ``effect_days`` by a per-customer factor that depends on the type
  (persuadables much lower, sleeping dogs higher). :meth:`World.truth` exposes it.
"""

from __future__ import annotations

import copy
import pickle
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from proactive_ml.contract import (
    DATASETS,
    FEATURES,
    PLANS,
    TICKET_CATEGORIES,
    TICKET_PRIORITIES,
    TICKET_STATUSES,
)
from proactive_ml.sim.world import text
from proactive_ml.sim.world.config import (
    FEATURE_PARAMS,
    LOCATIONS,
    LOST_CAUSE,
    PERSUADABLE,
    PLAN_BASE_PRICE,
    PLAN_HAZARD,
    PLAN_MIX_BY_TYPE,
    PLAN_SEAT_SCALE,
    RESPONSE_TYPES,
    SLEEPING_DOG,
    SURE_THING,
    WorldConfig,
)

DAY_US = 86_400 * 1_000_000
SEND_HORIZONS = (30, 60, 90)  # horizons (days) whose true effect is kept for every send
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

CUSTOMER_COLUMNS = (
    "customer_id",
    "email",
    "name",
    "plan",
    "signup_date",
    "country",
    "timezone",
    "monthly_revenue",
    "marketing_consent",
    "cancelled_at",
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


class World:
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

    def __init__(self, config: WorldConfig | None = None) -> None:
        """Create the initial customer base (active at ``config.start``) and burn in its latent dynamics."""
        self.config = config or WorldConfig()
        cfg = self.config
        self.rng = np.random.default_rng(cfg.seed)
        self.day = _day_number(cfg.start) - 1  # last simulated day
        self.n = 0
        self.c: dict[str, np.ndarray] = {k: np.zeros(0, dtype=t) for k, t in self._FIELDS.items()}
        self.t: dict[str, np.ndarray] = {k: np.zeros(0, dtype=t) for k, t in self._TICKET_FIELDS.items()}
        self.next_ticket = 1
        self.next_feedback = 1
        self.steps = 0
        self._ids_cache: pa.Array | None = None
        self._csat_close_us = np.zeros(0, np.int64)
        self._sends: list[pd.DataFrame] = []
        start = _day_number(cfg.start)
        # initial signups spread over the history, more of them recent (the business grows)
        hist = cfg.signup_history_days
        age = (hist - 1) - np.minimum(np.floor(hist * self.rng.power(1.6, cfg.n_customers)), hist - 1)
        self._add_customers((start - 1 - age).astype(np.int32))
        for _ in range(cfg.burn_in_days):
            self._evolve_latent(self.rng)
        lh = self._log_hazard_terms(start)
        target_daily = -np.log(1.0 - cfg.monthly_churn) / 30.0
        self.h0 = float(target_daily / np.mean(np.exp(lh)))

    # ------------------------------------------------------------------ state
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

    # ------------------------------------------------------------------ dynamics
    def _evolve_latent(self, rng: np.random.Generator) -> None:
        cfg, c, n = self.config, self.c, self.n
        rt = c["rtype"][:n]
        dec = c["declining"][:n]
        u = rng.random(n)
        start_p = cfg.decline_start_rate * TYPE_DECLINE[rt]
        dec[:] = np.where(dec, u >= cfg.decline_stop_rate, u < start_p)
        mu = c["mu"][:n]
        mu[:] = np.where(dec, mu - cfg.decline_speed, mu + 0.01 * (c["mu0"][:n] - mu))
        np.maximum(mu, -3.5, out=mu)
        e = c["e"][:n]
        e += cfg.engagement_reversion * (mu - e) + cfg.engagement_noise * rng.standard_normal(
            n, dtype=np.float32
        )
        c["penalty"][:n] *= np.float32(0.97)
        c["wait"][:n] *= np.float32(0.95)

    def _log_hazard_terms(self, day: int) -> np.ndarray:
        """Log of the daily churn hazard without baseline and without email effects, for every slot."""
        c, n = self.c, self.n
        recent = (day - c["last_nps_day"][:n]) <= 120
        nps = c["last_nps"][:n]
        detractor = recent & (nps >= 0) & (nps <= 6)
        passive = recent & ((nps == 7) | (nps == 8))
        tenure = day - c["signup"][:n]
        return (
            -1.4 * c["e"][:n]
            + 0.9 * c["declining"][:n]
            + 0.35 * np.minimum(c["open_tickets"][:n], 3)
            + 0.6 * c["wait"][:n]
            + 1.0 * detractor
            + 0.25 * passive
            + np.asarray(PLAN_HAZARD, dtype=np.float32)[c["plan"][:n]]
            + TYPE_HAZARD[c["rtype"][:n]]
            + 0.5 * (tenure < 45)
        ).astype(np.float64)

    def uplift_now(self, horizon_days: int = 30) -> np.ndarray:
        """True uplift (retention gained over ``horizon_days``) of an email sent today, for every slot."""
        p_no, p_em = self._churn_probs(np.arange(self.n), horizon_days)
        return p_no - p_em

    def base_hazard(self, day: int | None = None) -> np.ndarray:
        """Daily churn hazard of every customer slot without any email effect (0 for churned customers)."""
        d = self.day if day is None else day
        h = self.h0 * np.exp(self._log_hazard_terms(d))
        h[self.c["cancel_us"][: self.n] >= 0] = 0.0
        return h

    # ------------------------------------------------------------------ one day
    def step(self) -> dict[str, pd.DataFrame]:
        """Advance one day; that day's new or changed rows per dataset, with the contract's columns."""
        tables = self.step_tables()
        out: dict[str, pd.DataFrame] = {}
        for name, tbl in tables.items():
            df = tbl.to_pandas(date_as_object=False)
            if name == "customers":
                df["signup_date"] = df["signup_date"].astype("datetime64[us]")
            df.attrs["day"] = self.today.isoformat()
            out[name] = df
        return out

    def step_tables(self) -> dict[str, pa.Table]:
        """Like :meth:`step` but as Arrow tables (the fast path used to write landing files)."""
        cfg, rng = self.config, self.rng
        self.day += 1
        d = self.day
        d_us = np.int64(d) * DAY_US
        first = self.steps == 0
        self.steps += 1
        self._evolve_latent(rng)
        c = self.c
        n = self.n
        active = c["cancel_us"][:n] < 0
        # churn among customers active yesterday
        logh = self._log_hazard_terms(d)
        treated = c["treat_until"][:n] >= d
        logh[treated] += np.log(c["email_mult"][:n][treated])
        p = 1.0 - np.exp(-self.h0 * np.exp(logh))
        churn = active & (rng.random(n) < p)
        churn_idx = np.flatnonzero(churn)
        c["cancel_us"][churn_idx] = d_us + rng.integers(0, 86_400, len(churn_idx)) * SEC_US
        # new signups
        # a constant expected inflow (not tied to the current base), so two copies of a world that differ only
        # in who was emailed keep drawing the same random numbers (common random numbers for counterfactuals)
        k_new = int(rng.poisson(cfg.signup_rate * cfg.n_customers))
        new_idx = self._add_customers(np.full(k_new, d, dtype=np.int32)) if k_new else np.zeros(0, np.int64)
        c, n = self.c, self.n
        changed = np.arange(n) if first else np.concatenate([churn_idx, new_idx])
        live = np.flatnonzero(c["cancel_us"][:n] < 0)
        tables = {
            "customers": self._customer_table(np.unique(changed)),
            "usage_events": self._usage(live, d_us),
        }
        tickets, csat_idx, csat_wait = self._tickets(live, d, d_us)
        feedback = self._feedback(live, d, d_us, csat_idx, csat_wait)
        assert tickets is not None
        assert feedback is not None
        tables["feedback"] = feedback
        tables["tickets"] = tickets
        return {name: _with_optional_columns(name, tbl) for name, tbl in tables.items()}

    @property
    def today(self) -> date:
        """Date of the last simulated day (the day before ``config.start`` until the first step)."""
        return EPOCH + timedelta(days=self.day)

    # ------------------------------------------------------------------ datasets
    def _customer_table(self, idx: np.ndarray) -> pa.Table:
        c = self.c
        locs = c["loc"][idx]
        num = pc.cast(pa.array(idx + 1), pa.string())
        domain = pa.array(np.where(idx % 3 == 2, "@example.org", "@example.com"))
        cancel = c["cancel_us"][idx]
        return pa.table(
            {
                "customer_id": self._ids().take(pa.array(idx)),
                "email": pc.binary_join_element_wise("user", num, domain, ""),
                "name": pc.binary_join_element_wise(
                    _str_array(text.FIRST_NAMES).take(pa.array(c["first"][idx])),
                    _str_array(text.LAST_NAMES).take(pa.array(c["last"][idx])),
                    " ",
                ),
                "plan": _str_array(PLANS).take(pa.array(c["plan"][idx])),
                "signup_date": pa.array(c["signup"][idx], pa.date32()),
                "country": _str_array([x[0] for x in LOCATIONS]).take(pa.array(locs)),
                "timezone": _str_array([x[1] for x in LOCATIONS]).take(pa.array(locs)),
                "monthly_revenue": pa.array(c["revenue"][idx], pa.float64()),
                "marketing_consent": pa.array(c["consent"][idx], pa.bool_()),
                "cancelled_at": pa.array(cancel, pa.timestamp("us"), mask=cancel < 0),
            }
        )

    def _local_time_us(
        self, cust: np.ndarray, rng: np.random.Generator, mean_h: float, sd_h: float
    ) -> np.ndarray:
        """Microseconds into the UTC day for activity around local working hours."""
        offsets = np.array([x[2] for x in LOCATIONS])[self.c["loc"][cust]]
        local_h = np.clip(rng.normal(mean_h, sd_h, len(cust)), 0, 23.999)
        sec = (((local_h - offsets) % 24) * 3600).astype(np.int64)
        return sec * SEC_US

    def _usage(self, live: np.ndarray, d_us: np.int64) -> pa.Table:
        cfg, rng, c = self.config, self.rng, self.c
        e = c["e"][live]
        p_day = cfg.usage_activity * _sigmoid(1.5 * e - 2.4)
        act = live[rng.random(len(live)) < p_day]
        ea = c["e"][act]
        offs = np.array([f[0] for f in FEATURE_PARAMS], dtype=np.float32)
        lam = np.array([f[1] for f in FEATURE_PARAMS], dtype=np.float32)
        used = rng.random((len(act), len(FEATURES)), dtype=np.float32) < _sigmoid(
            offs[None, :] + 0.9 * ea[:, None] - 0.5
        )
        rows, feats = np.nonzero(used)
        cust = act[rows]
        scale = np.asarray(PLAN_SEAT_SCALE, dtype=np.float32)[c["plan"][cust]] * np.exp(0.4 * c["e"][cust])
        qty = 1 + rng.poisson(lam[feats] * scale)
        ts = d_us + self._local_time_us(cust, rng, 13.0, 3.5)
        return pa.table(
            {
                "customer_id": self._ids().take(pa.array(cust)),
                "ts": pa.array(ts, pa.timestamp("us")),
                "feature": _str_array(FEATURES).take(pa.array(feats.astype(np.int8))),
                "quantity": pa.array(qty.astype(np.int64)),
            }
        )

    def _tickets(
        self, live: np.ndarray, d: int, d_us: np.int64, emit: bool = True
    ) -> tuple[pa.Table | None, np.ndarray, np.ndarray]:
        cfg, rng, c, t = self.config, self.rng, self.c, self.t
        rate = cfg.ticket_rate * np.exp(
            c["friction"][live] + 0.6 * c["declining"][live] - 0.3 * (c["e"][live] < -1.5)
        )
        opener = live[rng.random(len(live)) < rate]
        k = len(opener)
        if k:
            prio = rng.choice(4, size=k, p=PRIORITY_MIX).astype(np.int8)
            own = rng.random(k) < 0.6
            cat = np.where(own, c["theme"][opener], rng.integers(0, 6, k)).astype(np.int8)
            open_us = d_us + self._local_time_us(opener, rng, 12.0, 3.0)
            slow = np.exp(rng.normal(0, 0.7, k))
            dur_us = (rng.exponential(PRIORITY_DAYS[prio]) * slow * 86_400).astype(
                np.int64
            ) * SEC_US + 600 * SEC_US
            close_us = open_us + dur_us
            close_day = (close_us // DAY_US).astype(np.int32)
            pending_day = np.where(close_day - d >= 2, d + 1, -1).astype(np.int32)
            final_day = np.where(rng.random(k) < 0.3, close_day + 3, -1).astype(np.int32)
            new = {
                "id": np.arange(self.next_ticket, self.next_ticket + k, dtype=np.int64),
                "cust": opener,
                "open_us": open_us,
                "close_us": close_us,
                "prio": prio,
                "cat": cat,
                "pending_day": pending_day,
                "close_day": close_day,
                "final_day": final_day,
            }
            self.next_ticket += k
            for key in t:
                t[key] = np.concatenate([t[key], new[key].astype(t[key].dtype)])
            np.add.at(c["open_tickets"], opener, 1)
            np.add.at(c["penalty"], opener, np.float32(0.2))
        opened_today = (t["open_us"] >= d_us) & (t["open_us"] < d_us + DAY_US)
        closing = t["close_day"] == d
        touched = opened_today | closing | (t["pending_day"] == d) | (t["final_day"] == d)
        # close tickets: update the customer's state, maybe a CSAT survey
        cl_cust = t["cust"][closing]
        wait_days = (t["close_us"][closing] - t["open_us"][closing]) / DAY_US
        np.add.at(c["open_tickets"], cl_cust, -1)
        long_wait = wait_days > 4
        c["wait"][cl_cust[long_wait]] = 1.0
        np.add.at(c["penalty"], cl_cust[long_wait], np.float32(0.4))
        alive = c["cancel_us"][cl_cust] < 0
        ask = alive & (rng.random(len(cl_cust)) < cfg.csat_after_ticket)
        csat_idx, csat_wait = cl_cust[ask], wait_days[ask]
        self._csat_close_us = t["close_us"][closing][ask]
        if not emit:  # a forecast: only the state matters
            self._forget_finished_tickets(d)
            return None, csat_idx, csat_wait
        # the latest state of every ticket touched today
        sel = np.flatnonzero(touched)
        done = t["close_day"][sel] <= d
        final = (t["final_day"][sel] >= 0) & (t["final_day"][sel] <= d)
        status = np.where(
            final,
            STATUS_CLOSED,
            np.where(done, STATUS_SOLVED, np.where(t["pending_day"][sel] == d, STATUS_PENDING, STATUS_OPEN)),
        )
        # a ticket opened today and still open keeps 'open'; one pending earlier stays 'pending'
        status = np.where((status == STATUS_OPEN) & ~opened_today[sel], STATUS_PENDING, status)
        closed_us = t["close_us"][sel]
        table = pa.table(
            {
                "ticket_id": pc.binary_join_element_wise(
                    "T", pc.utf8_lpad(pc.cast(pa.array(t["id"][sel]), pa.string()), width=8, padding="0"), ""
                ),
                "customer_id": self._ids().take(pa.array(t["cust"][sel])),
                "opened_at": pa.array(t["open_us"][sel], pa.timestamp("us")),
                "closed_at": pa.array(closed_us, pa.timestamp("us"), mask=~done),
                "priority": _str_array(TICKET_PRIORITIES).take(pa.array(t["prio"][sel])),
                "category": _str_array(TICKET_CATEGORIES).take(pa.array(t["cat"][sel])),
                "status": _str_array(TICKET_STATUSES).take(pa.array(status.astype(np.int8))),
            }
        )
        self._forget_finished_tickets(d)
        return table, csat_idx, csat_wait

    def _forget_finished_tickets(self, d: int) -> None:
        t = self.t
        keep = ~((t["close_day"] <= d) & ((t["final_day"] < 0) | (t["final_day"] <= d)))
        for key in t:
            t[key] = t[key][keep]

    def _feedback(
        self,
        live: np.ndarray,
        d: int,
        d_us: np.int64,
        csat_idx: np.ndarray,
        csat_wait: np.ndarray,
        emit: bool = True,
    ) -> pa.Table | None:
        cfg, rng, c = self.config, self.rng, self.c
        asked = live[rng.random(len(live)) < cfg.nps_rate * TYPE_NPS[c["rtype"][live]]]
        sat = self._satisfaction(asked)
        nps = np.clip(np.round(7.6 + 1.7 * sat + rng.normal(0, 1.1, len(asked))), 0, 10).astype(np.int64)
        c["last_nps"][asked] = nps
        c["last_nps_day"][asked] = d
        if not emit:  # a forecast: CSAT answers and comments do not feed back into churn
            return None
        sat_c = self._satisfaction(csat_idx) - 0.5 * (csat_wait > 4) - 0.08 * csat_wait
        csat = np.clip(np.round(4.0 + 0.8 * sat_c + rng.normal(0, 0.7, len(csat_idx))), 1, 5).astype(np.int64)
        cust = np.concatenate([asked, csat_idx])
        score = np.concatenate([nps, csat])
        is_nps = np.arange(len(cust)) < len(asked)
        tone = np.where(
            is_nps, np.digitize(score, [7, 9]), np.digitize(score, [3, 4])
        )  # 0 neg, 1 neutral, 2 pos
        comments = self._comments(cust, tone, rng)
        k = len(cust)
        ids = np.arange(self.next_feedback, self.next_feedback + k, dtype=np.int64)
        self.next_feedback += k
        ts = d_us + self._local_time_us(cust, rng, 14.0, 3.0)
        # a CSAT answer comes after the ticket was solved, the same day
        after = self._csat_close_us + rng.integers(600, 6 * 3600, len(csat_idx)) * SEC_US
        ts[len(asked) :] = np.minimum(after, d_us + DAY_US - SEC_US)
        return pa.table(
            {
                "feedback_id": pc.binary_join_element_wise(
                    "F", pc.utf8_lpad(pc.cast(pa.array(ids), pa.string()), width=9, padding="0"), ""
                ),
                "customer_id": self._ids().take(pa.array(cust)),
                "survey_type": pa.array(np.where(is_nps, "NPS", "CSAT")),
                "ts": pa.array(ts, pa.timestamp("us")),
                "score": pa.array(score),
                "comment": comments,
            }
        )

    def _satisfaction(self, idx: np.ndarray) -> np.ndarray:
        c = self.c
        return (
            0.6 * c["e"][idx]
            + c["mood"][idx]
            - c["penalty"][idx]
            - 0.6 * c["wait"][idx]
            - 0.3 * np.minimum(c["open_tickets"][idx], 3)
        ).astype(np.float64)

    def _comments(self, cust: np.ndarray, tone: np.ndarray, rng: np.random.Generator) -> pa.Array:
        k = len(cust)
        has = rng.random(k) < self.config.comment_rate
        theme = self.c["theme"][cust].astype(np.int64)
        theme = np.where((self.c["wait"][cust] > 0.3) & (rng.random(k) < 0.7), 6, theme)
        pick = rng.integers(0, 1_000_000, k)
        out: list[str | None] = [None] * k
        pool: tuple[str, ...]
        for i in np.flatnonzero(has):  # only the few rows that carry a comment
            if tone[i] == 2:
                pool = text.POSITIVE_COMMENTS
            elif tone[i] == 1:
                pool = text.NEUTRAL_COMMENTS
            else:
                pool = text.NEGATIVE_COMMENTS[text.THEMES[theme[i]]]
            out[i] = pool[pick[i] % len(pool)] or None
        return pa.array(out, pa.string())

    # ------------------------------------------------------------------ ground truth
    def truth(self, horizon_days: int = 30) -> pd.DataFrame:
        """Hidden ground truth per customer: response type and the true effect of one email now.

        Columns: customer_id, response_type, active, hazard (today's daily hazard, no email), email_multiplier
        (hazard factor while an email's effect lasts), effect_days, deliverable (an email now would arrive),
        p_churn_no_email, p_churn_email (over the next ``horizon_days``) and uplift = p_churn_no_email -
        p_churn_email (expected retention gained by emailing now; 0 for churned or undeliverable customers).
        The probabilities come from a Monte Carlo forecast of the customer's own latent future (engagement
        drift, tickets, surveys), the same dynamics that :meth:`step` runs.
        """
        c, n = self.c, self.n
        p_no, p_em = self._churn_probs(np.arange(n), horizon_days)
        return pd.DataFrame(
            {
                "customer_id": pd.Series(self._ids().slice(0, n).to_pandas(), dtype="str"),
                "response_type": np.array(RESPONSE_TYPES, dtype=object)[c["rtype"][:n]],
                "active": c["cancel_us"][:n] < 0,
                "hazard": self.base_hazard()[:n],
                "email_multiplier": c["email_mult"][:n].astype(np.float64),
                "effect_days": self.config.effect_days,
                "deliverable": self._deliverable(np.arange(n)),
                "p_churn_no_email": p_no,
                "p_churn_email": p_em,
                "uplift": p_no - p_em,
            }
        )

    def _deliverable(self, idx: np.ndarray) -> np.ndarray:
        c = self.c
        return (~c["bad_address"][idx]) & (c["sg_suppressed"][idx] == 0) & (c["cancel_us"][idx] < 0)

    def _forecast_survival(self, horizon_days: int) -> tuple[np.ndarray, np.ndarray]:
        """Probability of still being a customer after ``horizon_days`` without / with an email today.

        Runs copies of the world forward (state only, no churn, no output) with their own random streams and
        averages exp(-cumulative hazard) over the replicates; the main random stream is untouched. One run
        covers every horizon in SEND_HORIZONS too; cached per day and email state.
        """
        n, cfg = self.n, self.config
        treat_until = self.c["treat_until"][:n]
        key = (self.day, n, hash(treat_until.tobytes()))
        cache = self.__dict__.setdefault("_forecast_cache", {})
        if key in cache and horizon_days in cache[key]:
            return cache[key][horizon_days]
        checkpoints = {*SEND_HORIZONS, horizon_days}
        length = max(checkpoints)
        replicates = max(2, min(8, 4_000_000 // max(n, 1)))
        mult = self.c["email_mult"][:n].astype(np.float64)
        with_email_until = np.maximum(treat_until, self.day + cfg.effect_days)
        alive = np.flatnonzero(self.c["cancel_us"][:n] < 0)
        gone = self.c["cancel_us"][:n] >= 0
        acc = {h: (np.zeros(n), np.zeros(n)) for h in checkpoints}
        for r in range(replicates):
            shadow = copy.copy(self)
            shadow.c = {k: v[:n].copy() for k, v in self.c.items()}
            shadow.t = {k: v.copy() for k, v in self.t.items()}
            shadow.rng = np.random.default_rng([cfg.seed, self.day, r, 0x7A07])
            shadow.__dict__["_forecast_cache"] = {}
            h_no, h_em = np.zeros(n), np.zeros(n)
            for k in range(1, length + 1):
                shadow.day += 1
                d = shadow.day
                shadow._evolve_latent(shadow.rng)
                h = shadow.h0 * np.exp(shadow._log_hazard_terms(d))
                h_no += np.where(treat_until >= d, h * mult, h)
                h_em += np.where(with_email_until >= d, h * mult, h)
                if k in acc:
                    acc[k][0][:] += np.exp(-h_no)
                    acc[k][1][:] += np.exp(-h_em)
                d_us = np.int64(d) * DAY_US
                _, csat_idx, csat_wait = shadow._tickets(alive, d, d_us, emit=False)
                shadow._feedback(alive, d, d_us, csat_idx, csat_wait, emit=False)
        result = {}
        for h, (s_no, s_em) in acc.items():
            s_no, s_em = s_no / replicates, s_em / replicates
            s_no[gone] = s_em[gone] = 0.0
            result[h] = (s_no, s_em)
        if len(cache) > 4:
            cache.clear()
        cache[key] = result
        return result[horizon_days]

    def _churn_probs(self, idx: np.ndarray, horizon_days: int) -> tuple[np.ndarray, np.ndarray]:
        s_no, s_em = self._forecast_survival(horizon_days)
        p_no = 1.0 - s_no[idx]
        p_em = np.where(self._deliverable(idx), 1.0 - s_em[idx], p_no)
        return p_no, p_em

    def true_effect(self, customer_ids: list[str] | pd.Series | np.ndarray, horizon_days: int = 30) -> float:
        """Expected number of customers retained over ``horizon_days`` by emailing these customers now vs not.

        For a hypothetical email today: churned customers and addresses SendGrid would bounce or drop count 0.
        For emails already sent use :meth:`true_effect_of_sends`.
        """
        idx = parse_customer_ids(pd.Series(list(customer_ids), dtype="str"))
        idx = np.unique(idx[(idx >= 0) & (idx < self.n)])
        p_no, p_em = self._churn_probs(idx, horizon_days)
        return float(np.sum(p_no - p_em))

    # ------------------------------------------------------------------ email, landing, persistence
    def record_sends(self, log: list[tuple[str, str, int, bool, int]], uplift: dict[int, np.ndarray]) -> None:
        """Remember answered sends (send_key, customer_id, sent epoch s, delivered, slot) with their true effect.

        ``uplift`` maps a horizon in days to each slot's true uplift of an email sent now (computed before the
        emails took effect). Frozen at send time, so :meth:`true_effect_of_sends` is the truth for the emails
        that were actually sent, whatever happened to the address afterwards (unsubscribes...).
        """
        if not log:
            return
        keys, cids, sent_s, delivered, slots = zip(*log, strict=True)
        slot = np.asarray(slots, dtype=np.int64)
        ok = (slot >= 0) & (slot < self.n)
        safe = np.where(ok, slot, 0)
        hazard = np.where(ok, self.base_hazard()[safe], 0.0)
        ok_delivered = np.asarray(delivered, dtype=bool) & ok
        mult = np.where(ok_delivered, self.c["email_mult"][safe].astype(np.float64), 1.0)
        gains = {f"uplift_{h}": np.where(ok_delivered, u[safe], 0.0) for h, u in uplift.items()}
        self._sends.append(
            pd.DataFrame(
                {
                    "send_key": pd.Series(keys, dtype="str"),
                    "customer_id": pd.Series(cids, dtype="str"),
                    "sent_at": pd.to_datetime(np.asarray(sent_s, dtype=np.int64), unit="s"),
                    "delivered": np.asarray(delivered, dtype=bool),
                    "response_type": np.where(
                        ok, np.array(RESPONSE_TYPES, dtype=object)[self.c["rtype"][safe]], None
                    ),
                    "hazard": hazard,
                    "email_multiplier": mult,
                    **gains,
                }
            )
        )

    def sends_truth(self, horizon_days: int = 30) -> pd.DataFrame:
        """Every answered send with its hidden truth at send time: type, hazard, multiplier and ``uplift`` (the
        send's expected retention gain over ``horizon_days``, one of SEND_HORIZONS; 0 when not delivered).
        """
        if horizon_days not in SEND_HORIZONS:
            raise ValueError(f"send truths are kept for horizons {SEND_HORIZONS}, not {horizon_days}")
        cols = [
            "send_key",
            "customer_id",
            "sent_at",
            "delivered",
            "response_type",
            "hazard",
            "email_multiplier",
        ]
        if not self._sends:
            return pd.DataFrame(columns=[*cols, "uplift"])
        df = pd.concat(self._sends, ignore_index=True)
        return df[cols].assign(uplift=df[f"uplift_{horizon_days}"].to_numpy())

    def true_effect_of_sends(
        self, send_keys: list[str] | pd.Series | None = None, horizon_days: int = 30
    ) -> float:
        """Expected customers retained over ``horizon_days`` by the emails already sent (all, or these keys).

        A customer emailed several times counts once (the latest send).
        """
        df = self.sends_truth(horizon_days)
        if send_keys is not None:
            df = df[df["send_key"].isin(set(send_keys))]
        df = df.sort_values("sent_at").drop_duplicates("customer_id", keep="last")
        return float(df["uplift"].sum())

    def receive_emails(self, sent: pd.DataFrame) -> dict[str, list[Any]]:
        """Answer sent emails like SendGrid and the recipients would: events, replies, ratings.

        Also applies each delivered email's effect on the recipient's churn hazard (per hidden type).
        """
        from proactive_ml.sim.world.email import answer_emails

        return answer_emails(self, sent)

    def write_landing(
        self,
        batch: dict[str, pd.DataFrame] | dict[str, pa.Table],
        landing_dir: str | Path,
        fmt: str = "csv",
        day: date | None = None,
    ) -> list[Path]:
        """Write a step's batch as landing/<dataset>/<YYYY-MM-DD>.<ext> files; empty datasets get no file."""
        from proactive_ml.sim.world.landing import write_batch

        return write_batch(batch, landing_dir, fmt=fmt, day=day or self.today)

    def save(self, path: str | Path) -> Path:
        """Persist the whole world (state and random generator) to one pickle file."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        with p.open("wb") as fh:
            pickle.dump(self, fh, protocol=5)
        return p

    @classmethod
    def load(cls, path: str | Path) -> World:
        """Load a world written by :meth:`save`; it continues exactly where it stopped."""
        with Path(path).open("rb") as fh:
            world = pickle.load(fh)
        if not isinstance(world, cls):
            raise TypeError(f"{path} does not hold a World")
        return world

    def summary(self) -> dict[str, Any]:
        """Counts for humans: customers, active, churned, per response type."""
        c, n = self.c, self.n
        active = c["cancel_us"][:n] < 0
        types = {t: int((c["rtype"][:n] == i).sum()) for i, t in enumerate(RESPONSE_TYPES)}
        return {
            "day": self.today.isoformat(),
            "customers": int(n),
            "active": int(active.sum()),
            "churned": int((~active).sum()),
            "response_types": types,
        }


def epoch_seconds(ts: Any) -> int:
    """Epoch seconds of a naive-UTC timestamp (datetime, pandas Timestamp or ISO string)."""
    t = pd.Timestamp(ts)
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return int((t - pd.Timestamp(datetime(1970, 1, 1))).total_seconds())


__all__ = [
    "World",
    "epoch_seconds",
    "format_customer_ids",
    "parse_customer_ids",
    "SURE_THING",
    "PERSUADABLE",
    "LOST_CAUSE",
    "SLEEPING_DOG",
]


_NULL_TYPES = {"string": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}


def _with_optional_columns(name: str, tbl: pa.Table) -> pa.Table:
    """Append the optional contract columns this world does not fill (empty), in contract order."""
    for col in DATASETS[name].columns:
        if col.name not in tbl.column_names and col.type in _NULL_TYPES:
            tbl = tbl.append_column(col.name, pa.nulls(tbl.num_rows, _NULL_TYPES[col.type]))
    return tbl
