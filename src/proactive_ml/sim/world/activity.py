"""What the world's customers do each day, as datasets: the customers table, usage, tickets and feedback.

Tickets come from friction; tickets that stay open or take long to solve hurt the experience, which drives NPS
and CSAT scores and the tone and theme of comments.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from proactive_ml.contract import FEATURES, PLANS, TICKET_CATEGORIES, TICKET_PRIORITIES, TICKET_STATUSES
from proactive_ml.sim.world import text
from proactive_ml.sim.world.config import (
    COUNTRY_LOCALES,
    DEFAULT_LOCALE,
    FEATURE_PARAMS,
    LOCATIONS,
    PLAN_SEAT_SCALE,
)
from proactive_ml.sim.world.state import (
    DAY_US,
    PRIORITY_DAYS,
    PRIORITY_MIX,
    SEC_US,
    STATUS_CLOSED,
    STATUS_OPEN,
    STATUS_PENDING,
    STATUS_SOLVED,
    TYPE_NPS,
    WorldState,
    _sigmoid,
    _str_array,
)

LOCATION_LOCALES = tuple(COUNTRY_LOCALES.get(country, DEFAULT_LOCALE) for country, *_ in LOCATIONS)
OWNED_FROM_PLAN = PLANS.index("pro")  # accounts on this plan or above have a customer-success owner
SUBJECTS_PER_CATEGORY = 3
SUBJECTS = tuple(s for cat in TICKET_CATEGORIES for s in text.TICKET_SUBJECTS[cat])
assert all(len(text.TICKET_SUBJECTS[cat]) == SUBJECTS_PER_CATEGORY for cat in TICKET_CATEGORIES)  # noqa: S101


class Activity(WorldState):
    """The day's rows per dataset (Arrow tables with the contract's columns) and their effect on the state."""

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
                "locale": _str_array(LOCATION_LOCALES).take(pa.array(locs)),
                # pro and enterprise accounts have a customer-success owner (fixed by the customer number)
                "owner": _str_array(text.CS_OWNERS).take(
                    pa.array(idx % len(text.CS_OWNERS), mask=c["plan"][idx] < OWNED_FROM_PLAN)
                ),
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
        """Open today's tickets, close the due ones; the day's ticket rows and who gets a CSAT survey."""
        cfg, c = self.config, self.c
        rate = cfg.ticket_rate * np.exp(
            c["friction"][live] + 0.6 * c["declining"][live] - 0.3 * (c["e"][live] < -1.5)
        )
        opener = live[self.rng.random(len(live)) < rate]
        if len(opener):
            self._open_tickets(opener, d, d_us)
        t = self.t
        opened_today = (t["open_us"] >= d_us) & (t["open_us"] < d_us + DAY_US)
        closing = t["close_day"] == d
        touched = opened_today | closing | (t["pending_day"] == d) | (t["final_day"] == d)
        csat_idx, csat_wait = self._close_tickets(closing)
        table = self._ticket_table(np.flatnonzero(touched), opened_today, d) if emit else None
        self._forget_finished_tickets(d)  # a forecast (emit=False): only the state matters
        return table, csat_idx, csat_wait

    def _open_tickets(self, opener: np.ndarray, d: int, d_us: np.int64) -> None:
        """New tickets for ``opener`` (priority, category, when they will be pending, solved and closed)."""
        rng, c, t = self.rng, self.c, self.t
        k = len(opener)
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

    def _close_tickets(self, closing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Close the due tickets: update the customers' state; (customers asked for CSAT, their wait in days)."""
        c, t = self.c, self.t
        cl_cust = t["cust"][closing]
        wait_days = (t["close_us"][closing] - t["open_us"][closing]) / DAY_US
        np.add.at(c["open_tickets"], cl_cust, -1)
        long_wait = wait_days > 4
        c["wait"][cl_cust[long_wait]] = 1.0
        np.add.at(c["penalty"], cl_cust[long_wait], np.float32(0.4))
        alive = c["cancel_us"][cl_cust] < 0
        ask = alive & (self.rng.random(len(cl_cust)) < self.config.csat_after_ticket)
        self._csat_close_us = t["close_us"][closing][ask]
        return cl_cust[ask], wait_days[ask]

    def _ticket_table(self, sel: np.ndarray, opened_today: np.ndarray, d: int) -> pa.Table:
        """The latest state of every ticket touched today (``sel``)."""
        t = self.t
        done = t["close_day"][sel] <= d
        final = (t["final_day"][sel] >= 0) & (t["final_day"][sel] <= d)
        status = np.where(
            final,
            STATUS_CLOSED,
            np.where(done, STATUS_SOLVED, np.where(t["pending_day"][sel] == d, STATUS_PENDING, STATUS_OPEN)),
        )
        # a ticket opened today and still open keeps 'open'; one pending earlier stays 'pending'
        status = np.where((status == STATUS_OPEN) & ~opened_today[sel], STATUS_PENDING, status)
        ids = t["id"][sel]  # subject and assignee follow from the ticket number: no extra random draws
        return pa.table(
            {
                "ticket_id": pc.binary_join_element_wise(
                    "T", pc.utf8_lpad(pc.cast(pa.array(t["id"][sel]), pa.string()), width=8, padding="0"), ""
                ),
                "customer_id": self._ids().take(pa.array(t["cust"][sel])),
                "opened_at": pa.array(t["open_us"][sel], pa.timestamp("us")),
                "closed_at": pa.array(t["close_us"][sel], pa.timestamp("us"), mask=~done),
                "priority": _str_array(TICKET_PRIORITIES).take(pa.array(t["prio"][sel])),
                "category": _str_array(TICKET_CATEGORIES).take(pa.array(t["cat"][sel])),
                "status": _str_array(TICKET_STATUSES).take(pa.array(status.astype(np.int8))),
                "subject": _str_array(SUBJECTS).take(
                    pa.array(t["cat"][sel] * SUBJECTS_PER_CATEGORY + ids % 3)
                ),
                "assignee": _str_array(text.SUPPORT_AGENTS).take(pa.array(ids % len(text.SUPPORT_AGENTS))),
            }
        )

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
