"""The world's hidden ground truth: churn forecasts with and without an email, and the truth of every send."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from proactive_ml.sim.world.activity import Activity
from proactive_ml.sim.world.config import (
    RESPONSE_TYPES,
)
from proactive_ml.sim.world.dynamics import Dynamics
from proactive_ml.sim.world.state import (
    DAY_US,
    SEND_HORIZONS,
    parse_customer_ids,
)


class Truth(Dynamics, Activity):
    """Monte Carlo forecasts of the world's own future; the true effect of emails (hidden from the system)."""

    def uplift_now(self, horizon_days: int = 30) -> np.ndarray:
        """True uplift (retention gained over ``horizon_days``) of an email sent today, for every slot."""
        p_no, p_em = self._churn_probs(np.arange(self.n), horizon_days)
        return p_no - p_em

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

    def _forecast_survival(self, horizon_days: int) -> tuple[np.ndarray, np.ndarray]:
        """Probability of still being a customer after ``horizon_days`` without / with an email today.

        Runs copies of the world forward (state only, no churn, no output) with their own random streams and
        averages exp(-cumulative hazard) over the replicates; the main random stream is untouched. One run
        covers every horizon in SEND_HORIZONS too; cached per day and email state.
        """
        n, cfg = self.n, self.config
        treat_until = self.c["treat_until"][:n]
        key = (self.day, n, hash(treat_until.tobytes()), hash(self.c["work_until"][:n].tobytes()))
        cache = self.__dict__.setdefault("_forecast_cache", {})
        if key in cache and horizon_days in cache[key]:
            return cache[key][horizon_days]
        checkpoints = {*SEND_HORIZONS, horizon_days}
        length = max(checkpoints)
        # Monte Carlo replicates: 8 up to 5,000 customers, fewer above (a mean over thousands of sends stays precise)
        replicates = max(2, min(8, 40_000 // max(n, 1)))
        mult = self.c["email_mult"][:n].astype(np.float64)
        work_until, work_mult = self.c["work_until"][:n], self.c["work_mult"][:n].astype(np.float64)
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
                h = np.where(
                    work_until >= d, h * work_mult, h
                )  # a person's work on the account, as it will hold
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
        """Every answered send with its hidden truth at send time: type, hazard, multiplier and ``uplift``.

        ``uplift`` is the send's expected retention gain over ``horizon_days`` (one of SEND_HORIZONS; 0 when not
        delivered).
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
