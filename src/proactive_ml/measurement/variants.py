"""Variants judged on retention, not opens: each variant's treated customers against the playbook's holdout.

A playbook with two or more variants (``models/playbooks.yaml``) has each decision's variant drawn at random and
recorded on the decision (``decisions.variant``). For each variant: the retention difference (treated with this
variant - the playbook's holdout) at 30/60/90 days with its 95% interval (:func:`~.impact.diff_ci`, the same
estimator as the impact table), and the share of its sends that got a reply (a person, not an auto-reply) or an
unsubscribe. Aggregates only. :func:`variant_table` is pure; :func:`variant_inputs` reads the warehouse.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from proactive_ml.features import outcomes
from proactive_ml.measurement.impact import HORIZONS, diff_ci

COLUMNS = [
    "playbook",
    "variant",
    "outcome",
    "n_treated",
    "n_holdout",
    "rate_treated",
    "rate_holdout",
    "diff",
    "ci_low",
    "ci_high",
    "sent",
    "reply",
    "unsubscribe",
]
RESPONSES_SQL = """
SELECT l.playbook, d.variant, count(*) AS sent,
       avg(CASE WHEN r.send_key IS NULL THEN 0 ELSE 1 END) AS reply,
       avg(CASE WHEN u.send_key IS NULL THEN 0 ELSE 1 END) AS unsubscribe
FROM send_ledger l JOIN decisions d ON d.send_key = l.send_key
LEFT JOIN (SELECT DISTINCT send_key FROM replies WHERE NOT is_auto AND send_key IS NOT NULL) r
  ON r.send_key = l.send_key
LEFT JOIN (SELECT DISTINCT send_key FROM email_events WHERE event IN ('unsubscribe', 'group_unsubscribe')
           AND send_key IS NOT NULL) u ON u.send_key = l.send_key
WHERE l.state = 'accepted' AND d.variant IS NOT NULL
GROUP BY l.playbook, d.variant
"""


def variant_table(rows: pd.DataFrame, responses: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per playbook with 2+ variants, per variant and retention horizon: treated (variant) vs holdout, with CI.

    ``rows``: :func:`~.impact.outcomes_frame` output with a ``variant`` column; ``responses``: playbook, variant,
    sent, reply, unsubscribe (rates), merged in when given.
    """
    out: list[list[Any]] = []
    if "variant" not in rows.columns or rows.empty:
        return pd.DataFrame(columns=COLUMNS)
    for pb, g in rows.groupby("playbook", sort=True):
        g = outcomes.first_per_customer(g)
        treated = g[g["arm"] == outcomes.TREATMENT]
        if treated["variant"].dropna().nunique() < 2:
            continue
        hold = g[g["arm"] == outcomes.HOLDOUT]
        for v, t in treated.groupby("variant", sort=True):
            for h in HORIZONS:
                o = f"retained_{h}d"
                a, b = t[o].dropna().to_numpy(), hold[o].dropna().to_numpy()
                if len(a) < 2 or len(b) < 2:
                    continue
                diff, lo, hi = diff_ci(a, b)
                out.append(
                    [pb, v, o, len(a), len(b), a.mean(), b.mean(), diff, lo, hi, np.nan, np.nan, np.nan]
                )
    table = pd.DataFrame(out, columns=COLUMNS)
    if responses is not None and len(responses) and len(table):
        r = responses.set_index(["playbook", "variant"])
        for col in ("sent", "reply", "unsubscribe"):
            table[col] = [
                r[col].get((p, v), np.nan) for p, v in zip(table["playbook"], table["variant"], strict=True)
            ]
    return table


def variant_inputs(wh: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(variant per send key, reply/unsubscribe rates per playbook and variant) from the warehouse."""
    variants = wh.query("SELECT send_key, variant FROM decisions WHERE variant IS NOT NULL")
    return variants, wh.query(RESPONSES_SQL)


def with_variants(rows: pd.DataFrame, variants: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (one per decision, with send_key) with each decision's variant (None when it has none)."""
    base = rows.drop(columns=["variant"], errors="ignore")
    return base.merge(variants, on="send_key", how="left") if len(variants) else base.assign(variant=None)
