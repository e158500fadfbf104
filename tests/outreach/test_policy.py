"""Contact policy, playbooks and selection: pure functions on three-row frames, plus a property test."""

from __future__ import annotations

import hashlib
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from proactive_ml.identity import email_hash
from proactive_ml.outreach.playbooks import (
    PlaybookError,
    Rule,
    evaluate_rule,
    load_playbooks,
    match_playbooks,
    parse_playbooks,
)
from proactive_ml.outreach.policy import (
    assign_holdout,
    contact_block_reason,
    frequency_capped,
    in_quiet_hours,
    next_allowed_send,
    schedule_send_at,
    unit_hash,
)
from proactive_ml.outreach.selection import PolicyParams, apply_budget, expected_value, plan_outreach
from proactive_ml.outreach.signals import build_signals

AS_OF = datetime(2026, 11, 24, 14)
CONFIG = load_playbooks()


def three() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "email": ["a@x.org", "b@x.org", "c@x.org"],
            "marketing_consent": [True, False, True],
            "cancelled_at": [pd.NaT, pd.NaT, pd.NaT],
        }
    )


def test_consent_and_suppression_block() -> None:
    f = three()
    r = contact_block_reason(f, {email_hash("C@X.org ")}, set(), AS_OF)
    assert r.tolist() == ["", "no_consent", "suppressed"]
    r = contact_block_reason(f, set(), {"a"}, AS_OF)
    assert r.tolist() == ["suppressed", "no_consent", ""]


def test_cancelled_customers_are_blocked_only_after_cancellation() -> None:
    f = three().assign(
        marketing_consent=True, cancelled_at=[datetime(2026, 11, 1), datetime(2026, 12, 1), pd.NaT]
    )
    assert contact_block_reason(f, set(), set(), AS_OF).tolist() == ["cancelled", "", ""]


def test_a_person_may_reach_a_customer_email_may_not_but_never_one_who_said_no() -> None:
    f = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e", "f"],
            "email": [None, "b@x.org", "c@x.org", "d@x.org", "", "f@x.org"],
            "marketing_consent": pd.array([True, None, False, None, None, None], dtype="boolean"),
            "cancelled_at": [pd.NaT] * 4 + [pd.NaT, datetime(2026, 11, 1)],
        }
    )
    as_email = contact_block_reason(f.assign(action="email"), set(), {"d"}, AS_OF)
    assert as_email.tolist() == [
        "no_email",
        "no_consent",
        "no_consent",
        "suppressed",
        "no_consent",
        "no_consent",
    ]
    as_task = contact_block_reason(f.assign(action="cs_task"), set(), {"d"}, AS_OF)
    assert as_task.tolist() == ["", "", "no_consent", "suppressed", "", "cancelled"]
    as_text = f.assign(action="cs_task", marketing_consent=["true", None, "false", None, "", None])
    assert contact_block_reason(as_text, set(), {"d"}, AS_OF).tolist() == as_task.tolist()


def test_frequency_cap_window() -> None:
    ids = pd.Series(["a", "b", "c"])
    recent = pd.DataFrame({"customer_id": ["a", "b"], "as_of": [date(2026, 11, 11), date(2026, 11, 10)]})
    # a: 13 days ago -> blocked; b: exactly 14 days ago -> allowed again; c: never contacted
    assert frequency_capped(ids, recent, AS_OF, 14).tolist() == [True, False, False]
    assert (
        frequency_capped(ids, pd.DataFrame(columns=["customer_id", "as_of"]), AS_OF, 14).tolist()
        == [False] * 3
    )
    later = pd.DataFrame(
        {"customer_id": ["c"], "as_of": [date(2026, 12, 1)]}
    )  # a later day was already decided
    assert frequency_capped(ids, later, AS_OF, 14).tolist() == [False, False, True]


def test_holdout_is_deterministic_salted_and_near_its_shares() -> None:
    n = 20_000
    f = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "playbook": "renewal_risk"})
    a = assign_holdout(f, "salt", 0.05, 0.10)
    b = assign_holdout(f, "salt", 0.05, 0.10)
    assert a["arm"].tolist() == b["arm"].tolist()
    share_g = (a["holdout_kind"] == "global").mean()
    share_p = (a["holdout_kind"] == "playbook").mean()
    assert 0.04 < share_g < 0.06
    assert 0.08 < share_p / (1 - share_g) < 0.12
    assert set(a.loc[a["arm"] == "holdout", "holdout_kind"]) == {"global", "playbook"}
    other = assign_holdout(f.assign(playbook="onboarding_stall"), "salt", 0.05, 0.10)
    # the global holdout is the same customers for every playbook; the playbook holdout differs
    assert (other["holdout_kind"] == "global").tolist() == (a["holdout_kind"] == "global").tolist()
    assert (other["holdout_kind"] == "playbook").tolist() != (a["holdout_kind"] == "playbook").tolist()
    c = assign_holdout(f, "another-salt", 0.05, 0.10)
    assert c["arm"].tolist() != a["arm"].tolist()
    assert 0 <= unit_hash(pd.Series(["x"]), "s")[0] < 1


def test_quiet_hours_defer_to_next_local_morning() -> None:
    assert in_quiet_hours(22, 21, 8)
    assert in_quiet_hours(3, 21, 8)
    assert not in_quiet_hours(8, 21, 8)
    assert in_quiet_hours(13, 12, 14)
    assert not in_quiet_hours(14, 12, 14)
    assert not in_quiet_hours(5, 5, 5)
    # 14:00 UTC: Berlin 15:00 (send now), Tokyo 23:00 (next day 08:00 JST = 23:00 UTC), bad zone -> UTC
    tz = pd.Series(["Europe/Berlin", "Asia/Tokyo", "Not/AZone"])
    s = schedule_send_at(AS_OF, tz, 21, 8)
    assert s.tolist() == [pd.Timestamp(AS_OF), pd.Timestamp("2026-11-24 23:00"), pd.Timestamp(AS_OF)]
    # 02:00 UTC in New York is 21:00 (quiet) -> 08:00 EST = 13:00 UTC
    assert next_allowed_send(datetime(2026, 11, 25, 2), "America/New_York", 21, 8) == datetime(
        2026, 11, 25, 13
    )


def test_rules_and_priorities() -> None:
    f = pd.DataFrame(
        {"customer_id": ["a", "b", "c"], "x": [1.0, None, 5.0], "plan": ["pro", "free", "enterprise"]}
    )
    assert evaluate_rule(f, Rule("x", ">=", 1)).tolist() == [True, False, True]
    assert evaluate_rule(f, Rule("x", "is_null")).tolist() == [False, True, False]
    assert evaluate_rule(f, Rule("plan", "in", ("pro", "enterprise"))).tolist() == [True, False, True]
    assert evaluate_rule(f, Rule("missing", ">", 0)).tolist() == [False] * 3
    frame = pd.DataFrame(
        {
            "customer_id": ["hv", "tk", "none"],
            "score": [0.9, 0.9, 0.05],
            "monthly_revenue": [5000.0, 50.0, 50.0],
            "plan": ["pro", "pro", "pro"],
            "open_tickets": [2.0, 2.0, 0.0],
            "oldest_open_ticket_days": [9.0, 9.0, None],
            "reasons": [["usage"], ["ticket"], []],
        }
    )
    m = match_playbooks(frame, CONFIG)
    # hv matches both the CS task and the ticket playbook: the CS task has the higher priority
    assert m.set_index("customer_id")["playbook"].to_dict() == {
        "hv": "high_value_cs_task",
        "tk": "unresolved_ticket",
    }
    assert m.set_index("customer_id")["action"].to_dict() == {"hv": "cs_task", "tk": "email"}


def test_playbook_file_validation() -> None:
    names = {p.name for p in CONFIG.playbooks}
    assert {
        "onboarding_stall",
        "renewal_risk",
        "detractor_survey",
        "unresolved_ticket",
        "high_value_cs_task",
    } <= names
    with pytest.raises(PlaybookError, match="slug"):
        parse_playbooks(
            {"playbooks": [{"name": "Bad Name!", "action": "email", "template": "x", "subject": "s"}]}
        )
    with pytest.raises(PlaybookError, match="guidance"):
        parse_playbooks({"playbooks": [{"name": "task", "action": "cs_task"}]})
    with pytest.raises(PlaybookError, match="unknown op"):
        parse_playbooks(
            {
                "playbooks": [
                    {"name": "x_y", "template": "t", "subject": "s", "rules": [{"field": "a", "op": "~"}]}
                ]
            }
        )
    with pytest.raises(PlaybookError, match="unknown field 'usage_14days'.*usage_14d"):
        parse_playbooks(
            {
                "playbooks": [
                    {
                        "name": "x_y",
                        "template": "t",
                        "subject": "s",
                        "rules": [{"field": "usage_14days", "op": ">", "value": 1}],
                    }
                ]
            }
        )


def test_expected_value_ranking_budget_and_uplift_swap() -> None:
    f = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "score": [0.9, 0.5, 0.1],
            "monthly_revenue": [10.0, 100.0, 0.0],
            "action": ["email"] * 3,
        }
    )
    ev = expected_value(f, CONFIG)
    h, cost = CONFIG.selection.value_horizon_months, CONFIG.selection.contact_cost
    assert ev["expected_value"].tolist() == pytest.approx([0.9 * 10 * h - cost, 0.5 * 100 * h - cost, -cost])
    top = apply_budget(ev, CONFIG, 1)
    assert top["customer_id"].tolist() == ["b"]  # c has no value: below the threshold even with budget
    assert apply_budget(ev, CONFIG, 10)["customer_id"].tolist() == ["b", "a"]
    up = expected_value(f, CONFIG, uplift=pd.Series({"a": 0.5, "b": -0.1}))
    assert apply_budget(up, CONFIG, 10)["customer_id"].tolist() == [
        "a"
    ]  # b is a sleeping dog, c has no estimate
    assert up.set_index("customer_id")["uplift"].isna().tolist() == [False, False, True]


def test_signals_point_in_time() -> None:
    cust = pd.DataFrame({"customer_id": ["a", "b"], "signup_date": [date(2026, 11, 1), date(2025, 12, 10)]})
    usage = pd.DataFrame({"customer_id": ["a"], "usage_14d": [5], "usage_prev_14d": [10]})
    tickets = pd.DataFrame(
        {
            "customer_id": ["b", "b"],
            "opened_at": [datetime(2026, 11, 20), datetime(2026, 11, 14)],
            "priority": ["urgent", "low"],
        }
    )
    fb = pd.DataFrame(
        {
            "customer_id": ["a", "a"],
            "survey_type": ["NPS", "NPS"],
            "ts": [datetime(2026, 10, 1), datetime(2026, 11, 20)],
            "score": [9, 3],
        }
    )
    s = build_signals(cust, usage, tickets, fb, AS_OF)
    assert s.loc["a", "tenure_days"] == 23
    assert s.loc["b", "days_to_renewal"] == 16
    assert s.loc["a", "usage_trend"] == 0.5
    assert s.loc["b", "usage_trend"] == 1.0
    assert s.loc["b", "open_tickets"] == 2
    assert s.loc["b", "urgent_open_tickets"] == 1
    assert s.loc["a", "last_nps"] == 3
    assert round(s.loc["a", "days_since_nps"], 1) == 4.6
    assert np.isnan(s.loc["b", "last_nps"])


def _mixed(
    n: int, seed: int, consent: float, supp: float, cancel: float
) -> tuple[pd.DataFrame, set[str], set[str]]:
    rng = np.random.default_rng(seed)
    ids = [f"m{i}" for i in range(n)]
    emails = [f"p{i}@x.org" if rng.random() > 0.01 else "" for i in range(n)]
    f = pd.DataFrame(
        {
            "customer_id": ids,
            "email": emails,
            "name": "A B",
            "plan": rng.choice(["free", "pro", "enterprise"], n),
            "marketing_consent": rng.random(n) < consent,
            "timezone": rng.choice(["UTC", "Asia/Tokyo"], n),
            "cancelled_at": np.where(
                rng.random(n) < cancel, np.datetime64("2026-11-01"), np.datetime64("NaT")
            ),
            "monthly_revenue": rng.gamma(2.0, 300.0, n),
            "score": rng.random(n),
            "reasons": [["usage"]] * n,
            "tenure_days": rng.integers(0, 400, n).astype(float),
            "usage_14d": rng.integers(0, 50, n).astype(float),
            "usage_trend": rng.random(n) * 1.5,
            "days_to_renewal": rng.integers(0, 365, n).astype(float),
            "open_tickets": rng.integers(0, 3, n).astype(float),
            "oldest_open_ticket_days": rng.random(n) * 10,
            "last_nps": rng.integers(0, 11, n).astype(float),
            "days_since_nps": rng.random(n) * 40,
        }
    )
    mask = rng.random(n) < supp
    hashes = {email_hash(e) for e, m in zip(emails, mask, strict=True) if m and e}
    by_id = {i for i, m in zip(ids, rng.random(n) < supp / 4, strict=True) if m}
    return f, hashes, by_id


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    consent=st.floats(0.0, 1.0),
    supp=st.floats(0.0, 0.9),
    cancel=st.floats(0.0, 0.5),
    budget=st.integers(0, 20_000),
)
def test_property_never_contacts_suppressed_or_unconsented(
    seed: int, consent: float, supp: float, cancel: float, budget: int
) -> None:
    f, hashes, by_id = _mixed(10_000, seed, consent, supp, cancel)
    recent = pd.DataFrame(
        {"customer_id": f["customer_id"].sample(500, random_state=seed), "as_of": date(2026, 11, 20)}
    )
    d, counts = plan_outreach(
        f,
        CONFIG,
        as_of=AS_OF,
        params=PolicyParams(daily_budget=budget),
        suppressed_hashes=hashes,
        suppressed_customers=by_id,
        recent_contacts=recent,
    )
    info = f.set_index("customer_id").loc[d["customer_id"]]
    assert info["marketing_consent"].all()
    assert not info["email"].map(lambda e: email_hash(e) in hashes).any()
    assert not d["customer_id"].isin(by_id).any()
    assert info["cancelled_at"].isna().all()
    assert not d["customer_id"].isin(recent["customer_id"]).any()
    assert d["customer_id"].is_unique
    assert (d["action"] == "email").sum() <= budget
    assert counts["decided"] == counts["treated"] + counts["held_out"] == len(d)


def _unit_hash_reference(values: list[object], salt: str) -> list[float]:
    """The definition, value by value: first 8 bytes of sha256(f"{salt}|{value}"), big-endian, over 2**64."""
    out = []
    for v in values:
        d = hashlib.sha256(f"{salt}|{v}".encode()).digest()
        out.append(int.from_bytes(d[:8], "big") / 2.0**64)
    return out


def test_vectorised_unit_hash_equals_the_definition_on_random_ids() -> None:
    rng = np.random.default_rng(11)
    ids = [f"{rng.choice(['c', 'acct-', 'Ü'])}{rng.integers(0, 10**12)}" for _ in range(5_000)] + ["", "a|b"]
    for values in (pd.Series(ids), pd.Series(ids, dtype=object), pd.Series(ids).iloc[7:1500]):
        got = unit_hash(values, "seed-42|global")
        assert got.tolist() == _unit_hash_reference(list(values), "seed-42|global")
    mixed = pd.Series([3, None, "x", 2.5], dtype=object)  # not all text: value by value, as str() writes them
    assert unit_hash(mixed, "s").tolist() == _unit_hash_reference(["3", "None", "x", "2.5"], "s")
    assert unit_hash(pd.Series([], dtype=object), "s").tolist() == []
