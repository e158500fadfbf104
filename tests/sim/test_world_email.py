"""The world answers emails: SendGrid-shaped events, replies, ratings, and the hidden effect on churn."""

from __future__ import annotations

import collections

import numpy as np
import pandas as pd
import pytest

from proactive_ml.identity import send_key
from proactive_ml.sim.world import World, WorldConfig
from proactive_ml.sim.world.simulator import epoch_seconds

SEED = 21
EVENT_TYPES = {
    "processed",
    "delivered",
    "open",
    "click",
    "bounce",
    "dropped",
    "spamreport",
    "unsubscribe",
    "group_unsubscribe",
}


def _sent(
    world: World, customers: pd.DataFrame, playbook: str = "save_at_risk", hour: int = 9
) -> pd.DataFrame:
    sent_at = pd.Timestamp(world.today) + pd.Timedelta(hours=hour)
    return pd.DataFrame(
        {
            "customer_id": customers.customer_id.to_numpy(),
            "email": customers.email.to_numpy(),
            "send_key": [send_key(c, playbook, world.today) for c in customers.customer_id],
            "message_id": [f"m{i // 500:04d}xyz" for i in range(len(customers))],
            "playbook": playbook,
            "sent_at": sent_at,
        }
    )


@pytest.fixture(scope="module")
def answered() -> tuple[World, pd.DataFrame, dict]:
    world = World(WorldConfig(n_customers=5000, seed=11))
    base = world.step()["customers"]
    sent = _sent(world, base)
    return world, sent, world.receive_emails(sent)


def test_events_have_sendgrid_shape(answered: tuple[World, pd.DataFrame, dict]) -> None:
    _, sent, out = answered
    assert set(out) == {"events", "replies", "ratings"}
    email_of = dict(zip(sent.send_key, sent.email, strict=True))
    message_of = dict(zip(sent.send_key, sent.message_id, strict=True))
    t0 = epoch_seconds(sent.sent_at.iloc[0])
    for ev in out["events"]:
        assert ev["event"] in EVENT_TYPES
        assert isinstance(ev["timestamp"], int)
        assert ev["timestamp"] >= t0
        assert ev["email"] == email_of[ev["send_key"]]
        assert ev["sg_message_id"].startswith(f"{message_of[ev['send_key']]}.filter0001.")
        assert ev["category"] == ["proactive", "save_at_risk"]
        assert "@" not in "".join(ev["category"])
        assert "@" not in ev["send_key"]
        if ev["event"] in ("unsubscribe", "group_unsubscribe"):
            assert "sg_event_id" not in ev
        else:
            assert isinstance(ev["sg_event_id"], str)
            assert len(ev["sg_event_id"]) >= 16
    ids = [e["sg_event_id"] for e in out["events"] if "sg_event_id" in e]
    assert len(ids) == len(set(ids))
    # sg_message_id suffix n is the recipient's position within its message
    first = sent.groupby("message_id").head(1)
    sg = {e["sg_message_id"] for e in out["events"] if e["send_key"] in set(first.send_key)}
    assert all(s.endswith(".filter0001.0") for s in sg)


def test_rates_are_plausible(answered: tuple[World, pd.DataFrame, dict]) -> None:
    _, sent, out = answered
    n = len(sent)
    per_key = collections.defaultdict(set)
    for ev in out["events"]:
        per_key[ev["event"]].add(ev["send_key"])
    rate = {k: len(v) / n for k, v in per_key.items()}
    assert len(per_key["processed"]) == n
    assert 0.004 < rate["bounce"] < 0.02
    assert 0.97 < rate["delivered"] < 0.995
    assert 0.33 < rate["open"] < 0.47
    assert 0.05 < rate["click"] < 0.11
    unsub = rate.get("unsubscribe", 0) + rate.get("group_unsubscribe", 0)
    assert 0.002 < unsub < 0.012
    assert rate.get("spamreport", 0) < 0.003
    assert 0.015 < len(out["replies"]) / n < 0.045
    assert 0.07 < len(out["ratings"]) / n < 0.13
    assert per_key["click"] <= per_key["open"] <= per_key["delivered"]
    assert not (per_key["delivered"] & per_key["bounce"])


def test_replies_and_ratings(answered: tuple[World, pd.DataFrame, dict]) -> None:
    _, sent, out = answered
    keys = set(sent.send_key)
    kinds = collections.Counter(r["kind"] for r in out["replies"])
    assert set(kinds) == {"out_of_office", "stop", "thanks", "question"}
    for r in out["replies"]:
        assert {"from", "to", "subject", "text", "send_key"} <= set(r)
        assert r["send_key"] in keys
        assert r["from"].endswith(("@example.com", "@example.org"))
        assert r["text"]
        if r["kind"] == "out_of_office":
            assert "out of the office" in r["text"].lower() or "out of office" in r["text"].lower()
            assert "Auto-Submitted" in r["headers"]
        if r["kind"] == "stop":
            assert "stop" in r["text"].lower() or "unsubscribe" in r["text"].lower()
    for key, score in out["ratings"]:
        assert key in keys
        assert 1 <= score <= 5


def test_answers_are_deterministic() -> None:
    a, b = World(WorldConfig(n_customers=500, seed=5)), World(WorldConfig(n_customers=500, seed=5))
    ca, cb = a.step()["customers"], b.step()["customers"]
    assert a.receive_emails(_sent(a, ca)) == b.receive_emails(_sent(b, cb))
    # answering emails does not disturb the world's own random stream
    pd.testing.assert_frame_equal(a.step()["usage_events"], b.step()["usage_events"])


def test_suppressed_addresses_are_dropped_next_time(answered: tuple[World, pd.DataFrame, dict]) -> None:
    world, sent, out = answered
    stopped = {e["send_key"] for e in out["events"] if e["event"] in ("bounce", "unsubscribe", "spamreport")}
    again = sent[sent.send_key.isin(stopped)].assign(send_key=lambda d: d.send_key + "_2")
    events = world.receive_emails(again)["events"]
    assert {e["event"] for e in events} == {"processed", "dropped"}
    assert all(e["reason"] for e in events if e["event"] == "dropped")


def test_empty_and_bad_input() -> None:
    world = World(WorldConfig(n_customers=50))
    world.step()
    cols = ["customer_id", "email", "send_key", "message_id", "playbook", "sent_at"]
    assert world.receive_emails(pd.DataFrame(columns=cols)) == {"events": [], "replies": [], "ratings": []}
    with pytest.raises(ValueError, match="columns"):
        world.receive_emails(pd.DataFrame({"customer_id": ["C0000001"]}))


def _churn_after(world: World, ids: set[str], days: int) -> float:
    for _ in range(days):
        world.step_tables()
    truth = world.truth()
    return float((~truth.active[truth.customer_id.isin(ids)]).mean())


@pytest.mark.parametrize(
    ("rtype", "direction"), [("persuadable", -1), ("sleeping_dog", 1), ("lost_cause", 0)]
)
def test_email_effect_direction(rtype: str, direction: int) -> None:
    """Same world twice (common random numbers): emailing one type changes its churn as the truth says."""
    cfg = WorldConfig(n_customers=4000, seed=SEED)
    treated, control = World(cfg), World(cfg)
    base = treated.step()["customers"]
    control.step()
    truth = treated.truth()
    ids = truth[(truth.response_type == rtype) & truth.active & truth.deliverable].customer_id
    h_before = treated.base_hazard().copy()
    expected = treated.true_effect(ids)
    treated.receive_emails(_sent(treated, base[base.customer_id.isin(ids)]))
    np.testing.assert_array_equal(
        treated.base_hazard(), h_before
    )  # the effect sits on top of the base hazard
    p_t, p_c = _churn_after(treated, set(ids), 30), _churn_after(control, set(ids), 30)
    if direction < 0:
        assert expected > 5
        assert p_t < 0.7 * p_c
    elif direction > 0:
        assert expected < -5
        assert p_t > 1.4 * p_c
    else:
        assert expected == 0
        assert p_t == pytest.approx(p_c, abs=0.02)


def test_sends_keep_their_truth_after_unsubscribes(answered: tuple[World, pd.DataFrame, dict]) -> None:
    world, sent, out = answered
    truth = world.sends_truth()
    assert set(sent.send_key) <= set(truth.send_key)
    first = truth[truth.send_key.isin(set(sent.send_key))]
    bounced = {e["send_key"] for e in out["events"] if e["event"] == "bounce"}
    assert set(first.loc[~first.delivered, "send_key"]) == bounced
    assert (first.loc[~first.delivered, "uplift"] == 0).all()
    unsub = {e["send_key"] for e in out["events"] if e["event"] in ("unsubscribe", "group_unsubscribe")}
    assert unsub
    assert first[first.send_key.isin(unsub)].delivered.all()
    by_type = first[first.delivered].groupby("response_type").uplift.mean()
    assert by_type["persuadable"] > 0.01 > 0 > -0.01 > by_type["sleeping_dog"]
    some = list(sent.send_key[:100])
    assert world.true_effect_of_sends(some) == pytest.approx(first[first.send_key.isin(some)].uplift.sum())


def test_rows_without_customer_id_or_time_still_answered() -> None:
    world = World(WorldConfig(n_customers=200, seed=2))
    base = world.step()["customers"]
    sent = _sent(world, base.head(50)).assign(customer_id=None, sent_at=pd.NaT)
    out = world.receive_emails(sent)
    delivered = {e["send_key"] for e in out["events"] if e["event"] == "delivered"}
    assert len(delivered) >= 45
    start = epoch_seconds(pd.Timestamp(world.today) + pd.Timedelta(days=1))
    assert min(e["timestamp"] for e in out["events"]) >= start


@pytest.mark.slow
def test_truth_matches_a_randomized_experiment() -> None:
    """Email a random half of a large base: the realized churn difference agrees with the truth's prediction."""
    world = World(WorldConfig(n_customers=60_000, seed=8))
    for _ in range(60):
        world.step_tables()
    truth = world.truth()
    pool = truth[truth.active & truth.deliverable].reset_index(drop=True)
    treated = np.random.default_rng(8).random(len(pool)) < 0.5
    ids = pool.customer_id[treated]
    emails = (
        ids.str.slice(1).astype(int).map(lambda k: f"user{k}@example.{'org' if (k - 1) % 3 == 2 else 'com'}")
    )
    sent = pd.DataFrame(
        {
            "customer_id": ids.to_numpy(),
            "email": emails.to_numpy(),
            "send_key": "k" + ids,
            "message_id": "m",
            "playbook": "p",
            "sent_at": pd.Timestamp(world.today) + pd.Timedelta(hours=14),
        }
    )
    world.receive_emails(sent)
    for _ in range(30):
        world.step_tables()
    churned = ~world.truth().set_index("customer_id").loc[pool.customer_id, "active"].to_numpy()
    realized = churned[~treated].mean() - churned[treated].mean()
    se = np.sqrt(churned[~treated].var() / (~treated).sum() + churned[treated].var() / treated.sum())
    assert abs(realized - pool.uplift.mean()) < 3 * se
    assert world.true_effect_of_sends() == pytest.approx(pool.uplift[treated].sum(), rel=0.02)
