"""Every outcome the house measures, defined once: need, retained at a horizon, treated or held out.

In: warehouse rows (as SQL over ``tickets``, ``feedback``, ``decisions``) or frames of decisions and customers.
Out: 0/1 outcomes. The labels the models learn (:mod:`proactive_ml.features.labels`), the measured impact
(:mod:`proactive_ml.measurement.impact`), the uplift model's training set (:mod:`proactive_ml.modeling.uplift`)
and the report (:mod:`proactive_ml.measurement.report`) all call these, so the words mean the same everywhere:

- **need**: within ``[start, start + horizon)`` the customer opened a support ticket or gave a detractor survey
  answer (NPS <= 6 or CSAT <= 2); the need model's label may declare other events (:class:`NeedEvents`);
- **retained at a horizon**: ``cancelled_at`` is empty or at/after ``start + horizon``; known only once
  ``start + horizon <= as_of``;
- **treated / held out**: a decision in the randomized arms; ``treatment`` was contacted, ``holdout`` was not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

NEED_HORIZON_DAYS = 30
TREATMENT = "treatment"
HOLDOUT = "holdout"
RANDOMIZED_ARMS = (TREATMENT, HOLDOUT)

DETRACTOR_SQL = "((survey_type = 'NPS' AND score <= 6) OR (survey_type = 'CSAT' AND score <= 2))"
"""A survey answer from a detractor: a predicate on the columns of ``feedback``."""


@dataclass(frozen=True)
class NeedEvents:
    """Which events show a need (``need.events`` in ``models/labels.yaml``); the defaults are the house's.

    ``tickets``: every ticket opened counts, or only those whose ``category`` is in ``ticket_categories`` when that
    is not empty. ``nps_max`` / ``csat_max``: survey answers at or below count (None: that survey never does).
    ``usage_features``: usage events of these features count too (e.g. a visit to the help centre, a support call
    logged as usage) — for a company with no tickets or surveys.
    """

    tickets: bool = True
    ticket_categories: tuple[str, ...] = ()
    nps_max: int | None = 6
    csat_max: int | None = 2
    usage_features: tuple[str, ...] = ()

    def sql(self) -> str:
        """The need events (customer_id, ts) as one SQL query over tickets, feedback and usage_events."""
        parts = []
        if self.tickets:
            where = (
                f" WHERE category IN ({_literals(self.ticket_categories)})" if self.ticket_categories else ""
            )
            parts.append(f"SELECT customer_id, opened_at AS ts FROM tickets{where}")
        surveys = [
            f"(survey_type = '{kind}' AND score <= {int(limit)})"
            for kind, limit in (("NPS", self.nps_max), ("CSAT", self.csat_max))
            if limit is not None
        ]
        if surveys:
            parts.append(f"SELECT customer_id, ts FROM feedback WHERE ({' OR '.join(surveys)})")
        if self.usage_features:
            parts.append(
                f"SELECT customer_id, ts FROM usage_events WHERE feature IN ({_literals(self.usage_features)})"
            )
        if not parts:  # nothing counts: an empty relation of the right shape
            return "SELECT customer_id, opened_at AS ts FROM tickets WHERE 1 = 0"
        return "\nUNION ALL\n".join(parts)

    def in_window_sql(self) -> str:
        """Customers with a need in ``[:cutoff_ts, :end_ts)``."""
        return f"""SELECT DISTINCT customer_id FROM ({self.sql()}) need_events
WHERE ts >= :cutoff_ts AND ts < :end_ts"""


def _literals(values: tuple[str, ...]) -> str:
    """SQL string literals, quotes doubled (values come from the reviewed models/labels.yaml)."""
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


HOUSE_NEED = NeedEvents()
NEED_EVENTS_SQL = HOUSE_NEED.sql()
"""The events that show a need (customer_id, ts): tickets opened and detractor answers."""

NEED_IN_WINDOW_SQL = HOUSE_NEED.in_window_sql()
"""Customers with a need in ``[:cutoff_ts, :end_ts)``."""

TREATED_IN_WINDOW_SQL = f"""SELECT DISTINCT customer_id FROM decisions
WHERE arm = '{TREATMENT}' AND as_of >= :start_date AND as_of < :end_date"""
"""Customers in the treatment arm of a decision dated in ``[:start_date, :end_date)``."""


# ---------------------------------------------------------------------------------------------- treated / held out
def randomized(decisions: pd.DataFrame) -> pd.DataFrame:
    """The decisions of the randomized arms (treatment or holdout): the only fair comparisons."""
    return decisions[decisions["arm"].isin(RANDOMIZED_ARMS)]


def is_treated(arm: pd.Series) -> pd.Series:
    """1 where the decision's arm is the treatment, 0 where it is the holdout (int)."""
    return (arm == TREATMENT).astype(int)


def first_per_customer(decisions: pd.DataFrame) -> pd.DataFrame:
    """Each customer's first decision (by ``decided``, then ``send_key``): later ones depend on the first."""
    return decisions.sort_values(["decided", "send_key"]).drop_duplicates("customer_id")


# ---------------------------------------------------------------------------------------------- retained
def window_ended(start: pd.Series, horizon_days: int, as_of: date | datetime | pd.Timestamp) -> pd.Series:
    """True where ``[start, start + horizon_days)`` has ended by ``as_of`` (the outcome is known)."""
    return start + pd.Timedelta(days=horizon_days) <= pd.Timestamp(as_of)


def retained(start: pd.Series, cancelled_at: pd.Series, horizon_days: int) -> pd.Series:
    """1.0 where the customer was still a customer ``horizon_days`` after ``start``, else 0.0 (float)."""
    cancelled = pd.to_datetime(cancelled_at)
    return (cancelled.isna() | (cancelled >= start + pd.Timedelta(days=horizon_days))).astype(float)


def retained_known(
    start: pd.Series, cancelled_at: pd.Series, horizon_days: int, as_of: date | datetime | pd.Timestamp
) -> pd.Series:
    """:func:`retained`, NaN where the window has not ended by ``as_of``."""
    return retained(start, cancelled_at, horizon_days).where(window_ended(start, horizon_days, as_of))


# ---------------------------------------------------------------------------------------------- need
def need_within(
    starts: pd.DataFrame, need_events: pd.DataFrame, horizon_days: int = NEED_HORIZON_DAYS
) -> pd.Series:
    """1.0 where a row's customer had a need event in ``[decided, decided + horizon_days)``, else 0.0.

    ``starts``: customer_id, decided (the result is indexed like it); ``need_events``: customer_id, ts (as
    :data:`NEED_EVENTS_SQL` returns them).
    """
    need = pd.Series(0.0, index=starts.index)
    if len(need_events):
        ne = need_events.assign(ts=pd.to_datetime(need_events["ts"]))
        m = starts[["customer_id", "decided"]].rename_axis("_row").reset_index()
        m = m.merge(ne, on="customer_id", how="inner")
        m = m[(m["ts"] >= m["decided"]) & (m["ts"] < m["decided"] + pd.Timedelta(days=horizon_days))]
        need.loc[m["_row"].unique()] = 1.0
    return need
