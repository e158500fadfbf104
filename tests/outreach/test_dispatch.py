"""Ledger + delivery: exactly-once transitions, 429/5xx/400/413/timeouts, PII check, on DuckDB and PostgreSQL."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from proactive_ml.delivery import Lookup, Reply, SendGridSender, sender_from_settings
from proactive_ml.delivery.sendgrid import RetryPolicy, backoff_delay, rate_limit_delay
from proactive_ml.outreach import ledger
from proactive_ml.outreach.dispatch import deliver_pending
from proactive_ml.responses.suppressions import add_suppression
from proactive_ml.settings import Settings
from proactive_ml.sim.outreach_samples import create_tables, make_customers, plan_direct
from proactive_ml.sim.sink import Fault, start_sink_in_thread
from proactive_ml.warehouse import Warehouse

AS_OF = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 14)
FAST = RetryPolicy(base_delay=0.01, max_delay=0.05, rate_limit_jitter_seconds=0.05, timeout=5.0)


@pytest.fixture
def sink(settings: Settings) -> Iterator[tuple[Settings, Any]]:
    url, stop, ctl = start_sink_in_thread(settings)
    ctl.record_requests = True
    yield settings.model_copy(update={"sendgrid_host": url}), ctl
    stop()


def accepted_lines(s: Settings) -> list[dict[str, Any]]:
    p = s.outbox_dir / "accepted.jsonl"
    return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


def seed(wh: Warehouse, n: int, playbook: str = "renewal_risk") -> tuple[pd.DataFrame, list[str]]:
    create_tables(wh)
    c = make_customers(n, consent_share=1.0)
    wh.insert_frame("customers", c)
    return c, plan_direct(wh, c, playbook, AS_OF, NOW)


def test_backoff_has_bounded_jitter() -> None:
    p = RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=0.5)
    rng = random.Random(1)
    for attempt, cap in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)):
        ds = [backoff_delay(attempt, p, rng) for _ in range(200)]
        assert all(cap * 0.5 <= d <= cap for d in ds)
        assert len(set(ds)) > 150
    assert backoff_delay(3, RetryPolicy(base_delay=1.0, jitter=0.0), rng) == 4.0


def test_rate_limit_waits_until_reset_plus_jitter() -> None:
    p = RetryPolicy(rate_limit_jitter_seconds=1.0, max_rate_limit_wait=60)
    rng = random.Random(2)
    ds = [rate_limit_delay({"X-RateLimit-Reset": "1000"}, 997.5, p, rng) for _ in range(200)]
    assert all(2.5 <= d <= 3.5 for d in ds)
    assert max(ds) - min(ds) > 0.5
    assert 0 <= rate_limit_delay({"X-RateLimit-Reset": "900"}, 997.5, p, rng) <= 1.0  # reset already passed
    assert rate_limit_delay({"X-RateLimit-Reset": "99999"}, 0, p, rng) == 60  # bounded
    assert 0 < rate_limit_delay({}, 0, p, rng) <= 0.5 + 1.0  # no header: backoff


def test_decisions_and_ledger_are_idempotent_and_capped(wh: Warehouse) -> None:
    c, keys = seed(wh, 5)
    assert ledger.ledger_counts(wh) == {"planned": 5}
    plan_direct(wh, c, "renewal_risk", AS_OF, NOW)  # rerun: same keys, nothing new
    assert wh.row_count("decisions") == 5
    assert wh.row_count("send_ledger") == 5
    # another playbook for the same customers within the cap window: refused inside the transaction
    plan_direct(wh, c, "onboarding_stall", AS_OF + timedelta(days=3), NOW)
    assert wh.row_count("decisions") == 5
    plan_direct(wh, c.head(2), "onboarding_stall", AS_OF + timedelta(days=14), NOW)  # cap over
    assert wh.row_count("decisions") == 7
    assert wh.row_count("send_ledger") == 7
    assert wh.scalar("SELECT count(*) FROM decisions WHERE send_key = :k", {"k": keys[0]}) == 1


def test_claims_are_exclusive_and_reconcile_resolves_stuck_rows(wh: Warehouse) -> None:
    _, keys = seed(wh, 10)
    t1, k1 = ledger.claim(wh, playbook="renewal_risk", now=NOW, limit=6)
    t2, k2 = ledger.claim(wh, playbook="renewal_risk", now=NOW, limit=6)
    assert len(k1) == 6
    assert len(k2) == 4
    assert not set(k1) & set(k2)
    assert ledger.claim(wh, playbook="renewal_risk", now=NOW, limit=6)[1] == []
    ledger.mark_accepted(wh, k1[:2], "MID1", NOW, t1)
    assert ledger.mark_accepted(wh, k1[:2], "MID2", NOW, t1) == 0  # only rows still 'sending' change
    found = {k1[2]: "MIDX"}
    out = ledger.reconcile(
        wh,
        lambda ks: {k: found[k] for k in ks if k in found},
        now=NOW + timedelta(hours=1),
        stale_after=timedelta(minutes=10),
    )
    assert out == {"reconciled_accepted": 1, "reconciled_released": 7, "reconciled_dead_sender": 0}
    assert ledger.ledger_counts(wh) == {"accepted": 3, "planned": 7}
    assert wh.scalar("SELECT message_id FROM send_ledger WHERE send_key = :k", {"k": k1[2]}) == "MIDX"


def test_deliver_batches_of_1000_exactly_once_with_pii_check(
    wh: Warehouse, sink: tuple[Settings, Any]
) -> None:
    s, ctl = sink
    c, keys = seed(wh, 2500)
    out = deliver_pending(wh, s, now=NOW, retry=FAST, workers=2)
    assert out["sent"] == 2500
    assert out["requests"] == 3
    lines = accepted_lines(s)
    assert sorted(x["send_key"] for x in lines) == sorted(keys)
    st = wh.query("SELECT state, message_id FROM send_ledger")
    assert (st["state"] == "accepted").all()
    assert st["message_id"].nunique() == 3
    assert ctl.stats["pii_violations"] == 0
    assert ctl.stats["missing_unsubscribe_headers"] == 0
    for req in ctl.requests:
        assert len(req["personalizations"]) <= 1000
        assert req["categories"] == ["renewal_risk"]
        assert req["asm"] == {"group_id": s.sendgrid_asm_group_id}
        for p in req["personalizations"]:
            assert list(p["custom_args"]) == ["send_key"]
            assert p["custom_args"]["send_key"].startswith("sk_")
            assert p["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert deliver_pending(wh, s, now=NOW, retry=FAST)["sent"] == 0  # rerun sends nothing
    assert len(accepted_lines(s)) == 2500


def test_429_5xx_and_ambiguous_failures_never_duplicate(wh: Warehouse, sink: tuple[Settings, Any]) -> None:
    s, ctl = sink
    _, keys = seed(wh, 300)
    sleeps: list[float] = []
    ctl.inject(Fault(status=429, count=2, reset_in=0))
    ctl.inject(Fault(status=500, count=2))
    ctl.inject(Fault(status=503, count=1, after_accept=True))  # accepted, but the client sees 503
    out = deliver_pending(wh, s, now=NOW, retry=FAST, batch_size=100, workers=1, sleep=sleeps.append)
    assert out["rate_limited"] == 2
    assert out["retries"] >= 2
    assert out["sent"] == 300
    assert sorted(x["send_key"] for x in accepted_lines(s)) == sorted(keys)  # each exactly once
    assert len(sleeps) == 4
    assert all(d <= 1.2 for d in sleeps)


def test_timeouts_are_reconciled_before_any_resend(wh: Warehouse, sink: tuple[Settings, Any]) -> None:
    s, ctl = sink
    _, keys = seed(wh, 50)
    ctl.inject(Fault(slow=0.6))  # the client gives up, the server still accepts
    out = deliver_pending(wh, s, now=NOW, retry=RetryPolicy(timeout=0.3, base_delay=0.01), workers=1)
    assert out["sent"] == 50
    assert out["requests"] == 1
    assert sorted(x["send_key"] for x in accepted_lines(s)) == sorted(keys)


def test_retries_are_bounded_then_released_for_a_later_run(wh: Warehouse, sink: tuple[Settings, Any]) -> None:
    s, ctl = sink
    seed(wh, 20)
    ctl.inject(Fault(status=500, count=3))
    out = deliver_pending(
        wh, s, now=NOW, retry=RetryPolicy(max_attempts=3, base_delay=0.01), sleep=lambda _: None
    )
    assert out["sent"] == 0
    assert out["released"] == 20
    assert ledger.ledger_counts(wh) == {"planned": 20}
    assert deliver_pending(wh, s, now=NOW, retry=FAST)["sent"] == 20


def test_400_isolates_the_bad_message_and_413_splits(wh: Warehouse, sink: tuple[Settings, Any]) -> None:
    s, ctl = sink
    create_tables(wh)
    c = make_customers(40, consent_share=1.0)
    c.loc[7, "email"] = c.loc[
        3, "email"
    ]  # two accounts, one address: fine in separate requests, 400 together
    c.loc[9, "name"] = "Eve\r\nBcc: all@evil.org"  # refused before sending
    c.loc[11, "email"] = "blocked@example.org"  # our stand-in for an address SendGrid rejects
    wh.insert_frame("customers", c)
    plan_direct(wh, c, "renewal_risk", AS_OF, NOW)

    class Rejecting(SendGridSender):
        def send(self, body: dict[str, Any]) -> Reply:
            if any(p["to"][0]["email"] == "blocked@example.org" for p in body["personalizations"]):
                return Reply(
                    400,
                    {},
                    json.dumps(
                        {
                            "errors": [
                                {
                                    "message": "Does not contain a valid address.",
                                    "field": "personalizations.0.to.email",
                                    "help": None,
                                }
                            ]
                        }
                    ),
                )
            return super().send(body)

    out = deliver_pending(
        wh,
        s,
        now=NOW,
        retry=FAST,
        workers=1,
        sender=Rejecting(
            s.sendgrid_api_key.get_secret_value(), s.sendgrid_host, lookup=sender_from_settings(s).lookup
        ),
    )
    assert out["sent"] == 38
    assert out["dead_lettered"] == 2
    assert out["split"] >= 3
    dl = wh.query("SELECT customer_id, status_code, reason FROM dead_letters")
    reasons = dict(zip(dl["customer_id"], dl["reason"], strict=True))
    assert set(reasons) == {c.loc[9, "customer_id"], c.loc[11, "customer_id"]}
    assert "line break" in reasons[c.loc[9, "customer_id"]]
    assert "valid address" in reasons[c.loc[11, "customer_id"]]
    assert dict(zip(dl["customer_id"], dl["status_code"], strict=True))[c.loc[11, "customer_id"]] == 400
    assert sorted(x["to"] for x in accepted_lines(s)).count(c.loc[3, "email"]) == 2
    assert ledger.ledger_counts(wh) == {"accepted": 38, "dead_letter": 2}
    # 413: the batch is split in halves and everything goes out once
    c2 = make_customers(30, consent_share=1.0, prefix="z")
    wh.insert_frame("customers", c2)
    keys = plan_direct(wh, c2, "onboarding_stall", AS_OF, NOW)
    ctl.inject(Fault(status=413, count=1))
    out = deliver_pending(wh, s, now=NOW, retry=FAST, workers=1)
    assert out["sent"] == 30
    assert out["requests"] == 3
    assert out["split"] == 1
    assert sorted(
        x["send_key"] for x in accepted_lines(s) if x["categories"] == ["onboarding_stall"]
    ) == sorted(keys)


def test_suppression_after_decision_wins_at_send_time(wh: Warehouse, sink: tuple[Settings, Any]) -> None:
    s, _ = sink
    c, _ = seed(wh, 5)
    add_suppression(wh, email=c.loc[0, "email"], reason="unsubscribe", source="test", at=NOW)
    wh.execute(
        "UPDATE customers SET marketing_consent = FALSE WHERE customer_id = :c",
        {"c": c.loc[1, "customer_id"]},
    )
    out = deliver_pending(wh, s, now=NOW, retry=FAST)
    assert out["sent"] == 3
    assert out["failed"] == 2
    assert {x["to"] for x in accepted_lines(s)} == set(c.loc[2:, "email"])


def test_without_authoritative_lookup_ambiguous_sends_are_not_retried(
    duck: Warehouse, settings: Settings
) -> None:
    seed(duck, 10)
    calls: list[int] = []

    class Timeout:  # an EmailSender without an authoritative lookup, like SendGrid itself
        lookup: Lookup | None = None

        def send(self, body: dict[str, Any]) -> Reply:
            calls.append(len(body["personalizations"]))
            return Reply(None, None, "TimeoutError")

    out = deliver_pending(
        duck,
        settings,
        now=NOW,
        sender=Timeout(),
        retry=FAST,
        workers=1,
    )
    assert calls == [10]
    assert out["unknown"] == 10
    assert ledger.ledger_counts(duck) == {"sending": 10}
    # a later pass leaves them alone: no events yet, so no blind re-send
    later = deliver_pending(
        duck,
        settings,
        now=NOW,
        sender=Timeout(),
        retry=FAST,
        stale_after=timedelta(0),
    )
    assert calls == [10]
    assert later["reconciled_released"] == 0
    assert ledger.ledger_counts(duck) == {"sending": 10}


def test_sandbox_mode_and_dynamic_templates(duck: Warehouse, sink: tuple[Settings, Any]) -> None:
    import dataclasses

    from proactive_ml.outreach.playbooks import PlaybookConfig, load_playbooks

    s, ctl = sink
    seed(duck, 4)
    out = deliver_pending(duck, s.model_copy(update={"sendgrid_sandbox_mode": True}), now=NOW, retry=FAST)
    assert out["sent"] == 4
    assert ctl.stats["sandbox"] == 1
    assert accepted_lines(s) == []
    assert set(duck.query("SELECT message_id FROM send_ledger")["message_id"]) == {"sandbox"}
    cfg = load_playbooks()
    dyn = PlaybookConfig(
        tuple(
            dataclasses.replace(p, sendgrid_template_id="d-abc") if p.name == "onboarding_stall" else p
            for p in cfg.playbooks
        ),
        cfg.selection,
    )
    c = make_customers(3, consent_share=1.0, prefix="d")
    duck.insert_frame("customers", c)
    plan_direct(duck, c, "onboarding_stall", AS_OF, NOW)
    assert deliver_pending(duck, s, now=NOW, retry=FAST, config=dyn)["sent"] == 3
    req = ctl.requests[-1]
    assert req["template_id"] == "d-abc"
    assert "content" not in req
    assert all(
        set(p) == {"to", "headers", "custom_args", "dynamic_template_data"} for p in req["personalizations"]
    )


def test_events_lookup_reads_send_keys_from_email_events(duck: Warehouse) -> None:
    from proactive_ml.outreach.dispatch import events_lookup

    assert events_lookup(duck)(["sk_1"]) == {}
    duck.execute(
        "INSERT INTO email_events (dedupe_key, send_key, event, event_ts, sg_message_id, ingested_at) VALUES "
        "('e1', 'sk_1', 'processed', TIMESTAMP '2026-11-17 10:00:00', 'MID1.filter0001.x', "
        "TIMESTAMP '2026-11-17 10:05:00'), "
        "('e2', 'sk_2', 'open', TIMESTAMP '2026-11-17 11:00:00', NULL, TIMESTAMP '2026-11-17 11:05:00')"
    )
    assert events_lookup(duck)(["sk_1", "sk_3"]) == {"sk_1": "MID1"}
