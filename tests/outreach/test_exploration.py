"""Exploration: a declared share of the day's email budget drawn at random; p_treat and policy on every decision."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pandas as pd
import pytest

from proactive_ml.outreach.exploration import holdout_share
from proactive_ml.outreach.playbooks import PlaybookError, load_playbooks, parse_playbooks
from proactive_ml.outreach.selection import PolicyParams, plan_outreach

CONFIG = load_playbooks()
AS_OF = datetime(2026, 11, 25, 14)
PARAMS = PolicyParams(daily_budget=40, global_holdout_share=0.05, playbook_holdout_share=0.10)


def _frame(n: int) -> pd.DataFrame:
    """n consenting customers stalled in onboarding (an email playbook), best scores first."""
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:04d}" for i in range(n)],
            "email": [f"p{i}@example.org" for i in range(n)],
            "plan": "pro",
            "marketing_consent": True,
            "timezone": "UTC",
            "cancelled_at": pd.NaT,
            "monthly_revenue": 100.0,
            "score": [0.9 - i / (2 * n) for i in range(n)],
            "reasons": [["usage"]] * n,
            "tenure_days": 10.0,
            "usage_14d": 1.0,
            "usage_trend": 1.0,
        }
    )


def test_exploration_share_is_honoured_reproducible_and_drawn_from_the_rest() -> None:
    assert CONFIG.selection.exploration_share == 0.1  # declared in models/playbooks.yaml
    frame = _frame(400)
    d, counts = plan_outreach(frame, CONFIG, as_of=AS_OF, params=PARAMS)
    emails = d[d["action"] == "email"]
    assert len(emails) == 40
    assert counts["explored"] == 4
    policy_rows = emails[emails["policy"] == "risk"]
    explored = emails[emails["policy"] == "explore"]
    assert len(policy_rows) == 36
    assert len(explored) == 4
    # the policy took the 36 best; the draw came from the other 364, not simply the next best ones
    assert set(policy_rows["customer_id"]) == {f"c{i:04d}" for i in range(36)}
    assert all(int(c[1:]) >= 36 for c in explored["customer_id"])
    assert sorted(explored["customer_id"]) != [f"c{i:04d}" for i in range(36, 40)]
    again, _ = plan_outreach(frame, CONFIG, as_of=AS_OF, params=PARAMS)
    assert again["customer_id"].tolist() == d["customer_id"].tolist()  # a rerun draws the same customers
    next_day, _ = plan_outreach(frame, CONFIG, as_of=datetime(2026, 11, 26, 14), params=PARAMS)
    assert set(next_day.loc[next_day["policy"] == "explore", "customer_id"]) != set(explored["customer_id"])
    none = replace(CONFIG, selection=replace(CONFIG.selection, exploration_share=0.0))
    d0, c0 = plan_outreach(frame, none, as_of=AS_OF, params=PARAMS)
    assert c0["explored"] == 0
    assert set(d0["policy"]) == {"risk"}
    assert len(d0) == 40


def test_p_treat_is_selection_probability_times_the_share_not_held_out() -> None:
    d, _ = plan_outreach(_frame(400), CONFIG, as_of=AS_OF, params=PARAMS)
    keep = 1 - (0.05 + 0.95 * 0.10)
    assert holdout_share(0.05, 0.10) == pytest.approx(0.145)
    assert set(d["arm"]) == {"treatment", "holdout"}  # both arms are present and carry the same p_treat
    for _arm, g in d[d["policy"] == "risk"].groupby("arm"):
        assert g["p_treat"].to_numpy() == pytest.approx(keep)
    explored = d[d["policy"] == "explore"]
    assert explored["p_treat"].to_numpy() == pytest.approx(4 / 364 * keep)  # 4 drawn among the 364 left
    up, _ = plan_outreach(
        _frame(50), CONFIG, as_of=AS_OF, params=PARAMS, uplift=pd.Series(0.2, index=_frame(50)["customer_id"])
    )
    assert set(up["policy"]) == {"uplift", "explore"}
    small = plan_outreach(_frame(38), CONFIG, as_of=AS_OF, params=PARAMS)[0]  # 2 left for 4 slots: both drawn
    assert small.loc[small["policy"] == "explore", "p_treat"].to_numpy() == pytest.approx(keep)


@pytest.mark.parametrize("share", [1.0, -0.1, "ten percent", True])
def test_a_bad_exploration_share_is_refused_with_its_name(share: object) -> None:
    base = {"name": "x_y", "template": "t", "subject": "s"}
    with pytest.raises(PlaybookError, match="selection.exploration_share"):
        parse_playbooks({"playbooks": [base], "selection": {"exploration_share": share}})
