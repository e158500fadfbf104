"""Variants drawn at random by the declared split; one person (one address) gets one email."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from proactive_ml.outreach.playbooks import PlaybookError, load_playbooks, parse_playbooks
from proactive_ml.outreach.policy import assign_variants
from proactive_ml.outreach.selection import PolicyParams, plan_outreach

CONFIG = load_playbooks()
AS_OF = datetime(2026, 11, 25, 14)


@pytest.mark.parametrize("split", [[("a", 0.5), ("b", 0.5)], [("a", 0.2), ("b", 0.3), ("c", 0.5)]])
def test_variant_shares_follow_the_declared_split(split: list[tuple[str, float]]) -> None:
    keys = pd.Series([f"sk_{i:08x}" for i in range(10_000)])
    drawn = assign_variants(keys, pd.Series(["pb"] * len(keys)), {"pb": split}, "salt")
    share = drawn.value_counts(normalize=True)
    for name, weight in split:
        assert abs(share[name] - weight) <= 0.03, (name, share[name])
    again = assign_variants(keys, pd.Series(["pb"] * len(keys)), {"pb": split}, "salt")
    assert again.equals(drawn)  # seeded: a rerun draws the same variant
    other = assign_variants(keys, pd.Series(["pb"] * len(keys)), {"pb": split}, "another salt")
    assert (other != drawn).mean() > 0.3
    none = assign_variants(keys.head(3), pd.Series(["x"] * 3), {"pb": split}, "salt")
    assert none.isna().all()


def test_variants_are_declared_with_weights_and_checked() -> None:
    pb = CONFIG.get("onboarding_stall")
    assert [(v.name, v.weight) for v in pb.variants] == [("a", 0.5), ("b", 0.5)]
    assert pb.variants[1].template == "onboarding_stall_b"
    base = {"name": "x_y", "template": "t", "subject": "s"}
    with pytest.raises(PlaybookError, match="at least two"):
        parse_playbooks({"playbooks": [{**base, "variants": [{"name": "a"}]}]})
    with pytest.raises(PlaybookError, match="weight"):
        parse_playbooks({"playbooks": [{**base, "variants": [{"name": "a", "weight": 0}, {"name": "b"}]}]})
    with pytest.raises(PlaybookError, match="content block"):
        parse_playbooks({"playbooks": [{**base, "blocks": ["score"]}]})
    with pytest.raises(PlaybookError, match="reason_texts"):
        parse_playbooks({"playbooks": [base], "reason_texts": {"usage": "x"}})
    three = parse_playbooks(
        {"playbooks": [{**base, "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 3}]}]}
    )
    assert [v.weight for v in three.playbooks[0].variants] == [0.25, 0.75]


def _frame(emails: list[str]) -> pd.DataFrame:
    n = len(emails)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "email": emails,
            "name": "A B",
            "plan": "pro",
            "marketing_consent": True,
            "timezone": "UTC",
            "cancelled_at": pd.NaT,
            "monthly_revenue": 100.0,
            "score": [0.9 - i / 100 for i in range(n)],
            "reasons": [["usage"]] * n,
            "tenure_days": 10.0,
            "usage_14d": 1.0,
            "usage_trend": 1.0,
        }
    )


def test_two_customer_ids_sharing_an_address_get_one_email() -> None:
    f = _frame(["Ann@Example.org", " ann@example.ORG ", "bob@example.org"])
    d, counts = plan_outreach(
        f, CONFIG, as_of=AS_OF, params=PolicyParams(global_holdout_share=0.0, playbook_holdout_share=0.0)
    )
    assert sorted(d["customer_id"]) == ["c0", "c2"]  # the better-scored id of the shared address
    assert counts["merged_same_address"] == 1
    assert set(d.loc[d["playbook"] == "onboarding_stall", "variant"]) <= {"a", "b"}
    recent = pd.DataFrame(
        {
            "customer_id": ["zz"],
            "action": ["email"],
            "as_of": [date(2026, 11, 20)],
            "email": ["BOB@example.org"],
        }
    )
    d2, counts2 = plan_outreach(f, CONFIG, as_of=AS_OF, params=PolicyParams(), recent_contacts=recent)
    assert "c2" not in set(d2["customer_id"])  # the address was emailed through another id within the cap
    assert counts2["merged_same_address"] == 2
