"""The people's verdict on the suggestions: each playbook's wrong-suggestion rate, and the playbooks it pauses.

On the desk a person can flag a task's suggestion as wrong (``desk_flags``). Per playbook, the wrong-suggestion
rate is flagged / worked (tasks closed or flagged). A ``cs_task`` playbook that declares ``pause_above`` in
``models/playbooks.yaml`` is left out of the day's selection while its rate is above that share, once at least
:data:`MIN_WORKED` of its tasks were worked (a few early flags never pause a playbook).
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from proactive_ml.outreach.playbooks import PlaybookConfig
from proactive_ml.warehouse import Warehouse

MIN_WORKED = 20


def wrong_rates(wh: Warehouse) -> pd.DataFrame:
    """Per playbook: ``worked``, ``flagged`` and ``wrong_rate`` (flagged / worked; NaN when none worked)."""
    df = wh.query(
        """SELECT t.playbook, count(*) AS worked, count(f.task_id) AS flagged
           FROM cs_tasks t LEFT JOIN desk_flags f ON f.task_id = t.task_id
           WHERE t.state <> 'open' OR f.task_id IS NOT NULL GROUP BY t.playbook ORDER BY t.playbook"""
    )
    df["worked"] = df["worked"].astype(int)
    df["flagged"] = df["flagged"].astype(int)
    df["wrong_rate"] = df["flagged"] / df["worked"].where(df["worked"] > 0)
    return df


def paused_playbooks(
    rates: pd.DataFrame, config: PlaybookConfig, min_worked: int = MIN_WORKED
) -> dict[str, float]:
    """The playbooks to pause (pure): name -> wrong rate, where the rate is above the playbook's ``pause_above``."""
    limits = {p.name: p.pause_above for p in config.playbooks if p.pause_above is not None}
    out: dict[str, float] = {}
    for r in rates.itertuples(index=False):
        limit = limits.get(str(r.playbook))
        if limit is not None and r.worked >= min_worked and float(r.wrong_rate) > limit:
            out[str(r.playbook)] = float(r.wrong_rate)
    return out


def without_paused(wh: Warehouse, config: PlaybookConfig) -> tuple[PlaybookConfig, dict[str, float]]:
    """``config`` without the playbooks the desk's flags pause, and those paused (name -> wrong rate)."""
    if not any(p.pause_above is not None for p in config.playbooks):
        return config, {}
    paused = paused_playbooks(wrong_rates(wh), config)
    kept = tuple(p for p in config.playbooks if p.name not in paused)
    return replace(config, playbooks=kept), paused
