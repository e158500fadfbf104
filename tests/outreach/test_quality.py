"""The desk's flags pause a playbook: wrong-suggestion rate per playbook, pause_above, and outreach leaving it out."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from proactive_ml.outreach.playbooks import PlaybookError, load_playbooks, parse_playbooks
from proactive_ml.outreach.quality import MIN_WORKED, paused_playbooks, without_paused, wrong_rates
from proactive_ml.warehouse import Warehouse

CONFIG = load_playbooks()
TASK = "high_value_cs_task"


def _tasks(wh: Warehouse, n: int, flagged: int, closed: int) -> None:
    now = datetime(2026, 11, 20)
    for i in range(n):
        state = "done" if i < closed else "open"
        wh.execute(
            "INSERT INTO cs_tasks (task_id, as_of, customer_id, playbook, guidance, state, created_at) "
            "VALUES (:t, :d, :c, :p, 'g', :s, :now)",
            {"t": f"k{i}", "d": date(2026, 11, 1), "c": f"c{i}", "p": TASK, "s": state, "now": now},
        )
        if i >= n - flagged:
            wh.execute(
                "INSERT INTO desk_flags VALUES (:t, :c, :p, 'ann', 'not at risk', :now)",
                {"t": f"k{i}", "c": f"c{i}", "p": TASK, "now": now},
            )


def test_the_shipped_task_playbook_declares_a_pause() -> None:
    assert CONFIG.get(TASK).pause_above == 0.5


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"pause_above": 1.5}, r"share in \(0, 1\]"),
        ({"pause_above": "half"}, "share"),
        ({"pause_above": 0}, "share"),
    ],
)
def test_pause_above_is_a_share(extra: dict[str, object], message: str) -> None:
    doc = {"playbooks": [{"name": "care", "action": "cs_task", "guidance": "Call.", **extra}]}
    with pytest.raises(PlaybookError, match=message):
        parse_playbooks(doc)
    email = {"name": "mail", "action": "email", "template": "t", "subject": "s", "pause_above": 0.5}
    with pytest.raises(PlaybookError, match="cs_task playbooks only"):
        parse_playbooks({"playbooks": [email]})


def test_paused_only_above_the_limit_and_after_enough_tasks() -> None:
    rates = pd.DataFrame(
        {"playbook": [TASK], "worked": [MIN_WORKED], "flagged": [11], "wrong_rate": [11 / MIN_WORKED]}
    )
    assert paused_playbooks(rates, CONFIG) == {TASK: 11 / MIN_WORKED}
    assert paused_playbooks(rates.assign(wrong_rate=0.5), CONFIG) == {}  # at the limit: still running
    assert paused_playbooks(rates.assign(worked=MIN_WORKED - 1), CONFIG) == {}  # too few to judge


def test_outreach_leaves_a_paused_playbook_out(duck: Warehouse) -> None:
    _tasks(duck, n=30, flagged=18, closed=25)  # worked: 25 closed + 5 open but flagged = 30; 18 flagged
    rates = wrong_rates(duck)
    assert rates.set_index("playbook").loc[TASK, ["worked", "flagged"]].tolist() == [30, 18]
    kept, paused = without_paused(duck, CONFIG)
    assert paused == {TASK: 0.6}
    assert TASK not in [p.name for p in kept.playbooks]
    assert len(kept.playbooks) == len(CONFIG.playbooks) - 1
