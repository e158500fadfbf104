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
  (persuadables much lower, sleeping dogs higher). :meth:`World.truth` exposes it;
* a customer-success person's work on an account multiplies its hazard for a while by a factor that depends on
  the person's hidden skill (:mod:`.work`, :meth:`World.apply_work`).
"""

from __future__ import annotations

import pickle
from datetime import date
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa

from proactive_ml.contract import DATASETS
from proactive_ml.sim.world.config import (
    LOST_CAUSE,
    PERSUADABLE,
    RESPONSE_TYPES,
    SLEEPING_DOG,
    SURE_THING,
    WorldConfig,
)
from proactive_ml.sim.world.email import answer_emails
from proactive_ml.sim.world.landing import write_batch
from proactive_ml.sim.world.state import (
    DAY_US,
    SEC_US,
    _day_number,
    epoch_seconds,
    format_customer_ids,
    parse_customer_ids,
)
from proactive_ml.sim.world.work import Work


class World(Work):
    """A seeded simulated customer base that advances one day per :meth:`step`.

    The concerns live in their own modules: state (:mod:`.state`), daily dynamics (:mod:`.dynamics`), the day's
    datasets (:mod:`.activity`), the ground truth (:mod:`.truth`), people's work (:mod:`.work`); this class adds the day loop, email answers,
    landing files and persistence.
    """

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
        worked = (
            c["work_until"][:n] >= d
        )  # a person's work on the account (no random draw: the stream is kept)
        logh[worked] += np.log(c["work_mult"][:n][worked])
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
        tables["feedback"] = cast(pa.Table, feedback)  # emit=True: both are tables
        tables["tickets"] = cast(pa.Table, tickets)
        return {name: _with_optional_columns(name, tbl) for name, tbl in tables.items()}

    def receive_emails(self, sent: pd.DataFrame) -> dict[str, list[Any]]:
        """Answer sent emails like SendGrid and the recipients would: events, replies, ratings.

        Also applies each delivered email's effect on the recipient's churn hazard (per hidden type).
        """
        return answer_emails(self, sent)

    def write_landing(
        self,
        batch: dict[str, pd.DataFrame] | dict[str, pa.Table],
        landing_dir: str | Path,
        fmt: str = "csv",
        day: date | None = None,
    ) -> list[Path]:
        """Write a step's batch as landing/<dataset>/<YYYY-MM-DD>.<ext> files; empty datasets get no file."""
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
            # our own state file, written by save() under the data dir; never a file from elsewhere
            world = pickle.load(fh)  # noqa: S301
        if not isinstance(world, cls):
            raise TypeError(f"{path} does not hold a World")
        if "work_until" not in world.c:  # saved before people's work existed: nobody has worked any account
            world.c["work_until"] = np.full(world.n, -(10**6), dtype=np.int32)
            world.c["work_mult"] = np.ones(world.n, dtype=np.float32)
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
