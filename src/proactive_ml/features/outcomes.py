"""Every outcome the house measures, defined once: need, retained at a horizon, treated or held out.

In: warehouse rows (as SQL over ``tickets``, ``feedback``, ``decisions``) or frames of decisions and customers.
Out: 0/1 outcomes. The labels the models learn (:mod:`proactive_ml.features.labels`), the measured impact
(:mod:`proactive_ml.measurement.impact`), the uplift model's training set (:mod:`proactive_ml.modeling.uplift`)
and the report (:mod:`proactive_ml.measurement.report`) all call these, so the words mean the same everywhere:

- **need**: within ``[start, start + horizon)`` the customer opened a support ticket or gave a detractor survey
  answer (NPS <= 6 or CSAT <= 2);
- **retained at a horizon**: ``cancelled_at`` is empty or at/after ``start + horizon``; known only once
  ``start + horizon <= as_of``;
- **treated / held out**: a decision in the randomized arms; ``treatment`` was contacted, ``holdout`` was not.
"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

NEED_HORIZON_DAYS = 30
TREATMENT = "treatment"
HOLDOUT = "holdout"
RANDOMIZED_ARMS = (TREATMENT, HOLDOUT)

DETRACTOR_SQL = "((survey_type = 'NPS' AND score <= 6) OR (survey_type = 'CSAT' AND score <= 2))"
"""A survey answer from a detractor: a predicate on the columns of ``feedback``."""

NEED_EVENTS_SQL = f"""SELECT customer_id, opened_at AS ts FROM tickets
UNION ALL
SELECT customer_id, ts FROM feedback WHERE {DETRACTOR_SQL}"""
"""The events that show a need (customer_id, ts): tickets opened and detractor answers."""

NEED_IN_WINDOW_SQL = f"""SELECT DISTINCT customer_id FROM ({NEED_EVENTS_SQL}) need_events
WHERE ts >= :cutoff_ts AND ts < :end_ts"""
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
