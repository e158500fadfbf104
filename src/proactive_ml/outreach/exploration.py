"""Exploration: a declared share of each day's email budget goes to eligible customers drawn at random.

Why: a targeting policy that only ever emails the customers it ranks first leaves no logged data about the others,
so no other policy (uplift instead of risk, or plain random) can be judged on what was logged. Reserving
``selection.exploration_share`` of the day's email budget (``models/playbooks.yaml``) for a random draw among the
customers who passed consent, suppression and the frequency cap but were not chosen gives every candidate policy
support in the log; :mod:`proactive_ml.measurement.policy_eval` uses it to compare policies off-line.

Every decision records the policy that made it (``risk`` | ``uplift`` | ``explore``) and ``p_treat``: the probability
that this customer was treated under the logging policy = probability of being selected (1 for the policy's own
choice, k / pool for the random draw of k among the pool) x (1 - holdout share, global included). The draw is a
salted hash of (day, customer), so a rerun draws the same customers. Pure functions over DataFrames.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from proactive_ml.outreach.playbooks import PlaybookConfig
from proactive_ml.outreach.policy import unit_hash

EXPLORE = "explore"


def exploration_slots(config: PlaybookConfig, daily_budget: int) -> int:
    """Emails of the day's budget kept for the random draw: ``exploration_share x daily_budget``, rounded."""
    return int(round(config.selection.exploration_share * max(0, daily_budget)))


def holdout_share(global_share: float, playbook_share: float) -> float:
    """Probability that a selected customer is held out: the global holdout, else the playbook's among the rest."""
    return float(global_share + (1.0 - global_share) * playbook_share)


def add_exploration(
    valued: pd.DataFrame, chosen: pd.DataFrame, slots: int, *, salt: str, as_of: datetime, policy: str
) -> pd.DataFrame:
    """``chosen`` (the policy's rows, with column policy) plus ``slots`` email rows drawn at random from the rest.

    The pool is every email row of ``valued`` (eligible and valued, above the threshold or not) that the policy did
    not choose; the draw takes the ``slots`` smallest salted hashes of (day, customer id), a simple random sample
    without replacement, so each pool member is drawn with probability ``min(1, slots / pool)``. Adds column
    ``p_select``: 1 for the policy's rows, that probability for the drawn ones.
    """
    picked = chosen.assign(policy=policy, p_select=1.0)
    taken = set(chosen["customer_id"].astype(str))
    pool = valued[(valued["action"] == "email") & ~valued["customer_id"].astype(str).isin(taken)]
    if slots <= 0 or pool.empty:
        return picked.reset_index(drop=True)
    day = pd.Timestamp(as_of).date().isoformat()
    ids = pool["customer_id"].astype(str)
    u = unit_hash(ids, f"{salt}|explore|{day}")
    # only rows up to the slots-th smallest hash (ties included) can be drawn: order those by (hash, id)
    near = np.flatnonzero(u <= np.partition(u, slots - 1)[slots - 1]) if slots < len(u) else np.arange(len(u))
    order = near[np.lexsort((ids.iloc[near].to_numpy(), u[near]))]
    drawn = pool.iloc[order[:slots]].assign(policy=EXPLORE, p_select=min(1.0, slots / len(pool)))
    return pd.concat([picked, drawn], ignore_index=True)


def treat_probability(frame: pd.DataFrame, global_share: float, playbook_share: float) -> pd.Series:
    """``p_treat`` per decision: its ``p_select`` x (1 - holdout share). The same for treated and held-out rows."""
    keep = 1.0 - holdout_share(global_share, playbook_share)
    return (pd.to_numeric(frame["p_select"], errors="coerce").fillna(1.0) * keep).astype(float)
