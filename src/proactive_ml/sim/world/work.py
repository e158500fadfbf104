"""How a customer-success person's work changes a simulated customer, and the truth of it.

Like an email (``treat_until`` / ``email_mult``), a worked account has its daily churn hazard multiplied by a
factor for ``days`` days: ``work_mult`` until ``work_until``. The factor comes from the person's hidden skill
(:mod:`proactive_ml.sim.employees`): below 1 for a good call, above 1 for a poor one. No random number is drawn
here, so the world's own day-by-day stream is untouched; the truth of every piece of work (the customer's hazard
then, the factor, the expected retention it gains over the horizon) is kept for measuring the credit board.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from proactive_ml.sim.world.state import parse_customer_ids
from proactive_ml.sim.world.truth import Truth

WORK_COLUMNS = ["customer_id", "person", "day", "outcome", "multiplier", "days", "hazard", "true_saves"]


class Work(Truth):
    """People's work on accounts: :meth:`apply_work` and :meth:`work_truth`."""

    def apply_work(self, work: pd.DataFrame, day: int, days: int = 30) -> int:
        """Multiply worked customers' churn hazard by their ``multiplier`` from the day after ``day``, ``days`` days.

        ``work``: customer_id, person, outcome (what the person recorded, kept with the truth), multiplier.
        ``day`` is the world's day number of the work (``world.day`` on the day it happened). Unknown or churned
        customers are skipped; a newer piece of work replaces an older one's factor. Returns the rows applied.
        """
        if work.empty:
            return 0
        idx = parse_customer_ids(work["customer_id"].astype(str))
        c = self.c
        ok = (idx >= 0) & (idx < self.n)
        ok[ok] &= c["cancel_us"][idx[ok]] < 0
        rows, slots = work[ok], idx[ok]
        mult = rows["multiplier"].to_numpy(dtype=np.float64)
        c["work_until"][slots] = int(day + days)
        c["work_mult"][slots] = mult
        hazard = self.base_hazard()[slots]
        saves = np.exp(-hazard * mult * days) - np.exp(-hazard * days)
        log = self.__dict__.setdefault("_work_log", [])
        log.append(
            pd.DataFrame(
                {
                    "customer_id": rows["customer_id"].astype(str).to_numpy(),
                    "person": rows["person"].astype(str).to_numpy(),
                    "day": int(day),
                    "outcome": rows["outcome"].astype(str).to_numpy(),
                    "multiplier": mult,
                    "days": int(days),
                    "hazard": hazard,
                    "true_saves": saves,
                }
            )
        )
        return len(rows)

    def work_truth(self) -> pd.DataFrame:
        """Every piece of work applied: who, when, the factor, and ``true_saves``.

        ``true_saves`` is the expected retention gained over the work's days at the customer's hazard of that day
        (negative when the work made leaving more likely).
        """
        parts = self.__dict__.get("_work_log", [])
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=WORK_COLUMNS)
