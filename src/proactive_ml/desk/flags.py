"""Flags on wrong suggestions: the per-playbook wrong-suggestion rate and the review labels for the next training.

A flag is a person's judgement on one task (one customer, one playbook, one day). Two uses:

- :func:`flag_rates`: per playbook, tasks worked (closed or flagged), flagged, and the wrong-suggestion rate
  (flagged / worked) -- the quality figure shown on the desk's flags page and printed by ``desk flags``.
- :func:`review_labels`: one row per worked task with ``suggestion_wrong`` 1/0, the score and reasons the model
  gave, and the person's reason: review labels for the next training (``proactive-ml desk flags --out``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from proactive_ml.csvsafe import write_csv
from proactive_ml.outreach.quality import wrong_rates
from proactive_ml.warehouse import Warehouse

_WORKED = "(t.state <> 'open' OR f.task_id IS NOT NULL)"
LABEL_COLUMNS = [
    "task_id",
    "as_of",
    "customer_id",
    "playbook",
    "score",
    "reasons",
    "outcome",
    "suggestion_wrong",
    "flag_reason",
    "flagged_at",
]


def flag_rates(wh: Warehouse) -> pd.DataFrame:
    """Per playbook: ``worked``, ``flagged`` and ``wrong_rate`` (see :func:`proactive_ml.outreach.quality.wrong_rates`)."""
    return wrong_rates(wh)


def recent_flags(wh: Warehouse, cond: str, params: dict[str, object], limit: int = 100) -> pd.DataFrame:
    """The latest flags on tasks matching ``cond`` (the viewer's visibility), newest first."""
    return wh.query(
        f"""SELECT f.task_id, f.playbook, f.flagged_by, f.reason, f.created_at
            FROM desk_flags f JOIN cs_tasks t ON t.task_id = f.task_id
            WHERE {cond} ORDER BY f.created_at DESC LIMIT {int(limit)}""",
        params,
    )


def review_labels(wh: Warehouse) -> pd.DataFrame:
    """One row per worked task: the model's suggestion and whether a person flagged it as wrong (1) or not (0)."""
    df = wh.query(
        f"""SELECT t.task_id, t.as_of, t.customer_id, t.playbook, t.score, t.reasons, t.outcome,
                   CASE WHEN f.task_id IS NULL THEN 0 ELSE 1 END AS suggestion_wrong,
                   f.reason AS flag_reason, f.created_at AS flagged_at
            FROM cs_tasks t LEFT JOIN desk_flags f ON f.task_id = t.task_id
            WHERE {_WORKED} ORDER BY t.as_of, t.task_id"""
    )
    return df[LABEL_COLUMNS]


def write_review_labels(wh: Warehouse, path: Path | str) -> int:
    """Write :func:`review_labels` to a CSV (formula-like text neutralised); returns the row count."""
    df = review_labels(wh)
    write_csv(df, path)
    return len(df)
