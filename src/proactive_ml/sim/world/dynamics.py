"""Daily dynamics of the world: latent engagement drift, the churn hazard, and who churns today."""

from __future__ import annotations

import numpy as np

from proactive_ml.sim.world.config import (
    PLAN_HAZARD,
)
from proactive_ml.sim.world.state import (
    TYPE_DECLINE,
    TYPE_HAZARD,
    WorldState,
)


class Dynamics(WorldState):
    """Latent drift and the churn hazard (calibrated to ``WorldConfig.monthly_churn`` on the initial base)."""

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

    def base_hazard(self, day: int | None = None) -> np.ndarray:
        """Daily churn hazard of every customer slot without any email effect (0 for churned customers)."""
        d = self.day if day is None else day
        h = self.h0 * np.exp(self._log_hazard_terms(d))
        h[self.c["cancel_us"][: self.n] >= 0] = 0.0
        return h
