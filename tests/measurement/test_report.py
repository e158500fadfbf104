"""Success report, CLI wiring and the world transport (loop) end to end over HTTP."""

from __future__ import annotations

import json
from datetime import date, datetime

import pandas as pd

from proactive_ml.cli import build_parser
from proactive_ml.measurement.report import themes, write_report
from proactive_ml.responses.processing import process_responses
from proactive_ml.responses.receiver import start_receiver_in_thread
from proactive_ml.responses.store import RawStore
from proactive_ml.sim.answers import deliver_answers, mark_answered, read_accepted, unanswered_sends
from proactive_ml.sim.fixtures import NOW, make_sends, synthetic_decisions
from proactive_ml.sim.fixtures import load_decision_tables as _load_tables


def test_themes_table_has_human_headers_churn_and_no_addresses():
    texts = [
        "The invoice was wrong again, billing is a mess",
        "billing mess: invoice wrong",
        "invoice wrong, billing mess",
        "Contact me at jane.doe@example.com about the slow dashboard",
        "slow dashboard again",
        "the dashboard is slow",
    ]
    ids = ["A", "B", "C", "D", "E", "F"]
    churned = pd.Series([1, 1, 1, 0, 0, 0, 0], index=[*ids, "G"])
    t = themes(texts, ids, churned)
    assert list(t.columns[:3]) == ["Theme (top terms)", "Texts", "Share"]
    assert "invoice" in t.iloc[0]["Theme (top terms)"]  # the costly theme first
    assert t.iloc[0]["Churned if raised"] == 1.0
    assert "dashboard" in t.iloc[1]["Theme (top terms)"]
    assert not t.astype(str).apply(lambda c: c.str.contains("jane|@example", regex=True)).any().any()
    assert themes([]).empty


def test_report_has_kept_leaderboard_rates_themes_and_no_pii(duck, settings):
    dec, cust, _ = synthetic_decisions(n=1500)
    _load_tables(duck, dec, cust)
    duck.execute("UPDATE customers SET email = 'secret.person@example.org'")
    fb = pd.DataFrame(
        {
            "feedback_id": [f"f{i}" for i in range(6)],
            "customer_id": "C00001",
            "survey_type": "NPS",
            "ts": pd.Timestamp("2026-11-20"),
            "score": 3,
            "comment": [
                "Billing errors again",
                "billing errors on invoice",
                "Slow reports",
                "slow reports today",
                "<script>alert(1)</script> slow reports",
                None,
            ],
        }
    )
    duck.insert_frame("feedback", fb)
    path = write_report(duck, settings, date(2026, 12, 1))
    page = path.read_text()
    assert path == settings.reports_dir / "report.html"
    assert "customers kept" in page.lower()
    assert "data:image/png;base64," in page
    assert "onboarding" in page
    assert "renewal" in page
    assert "billing errors" in page
    assert "slow reports" in page
    assert "rising: 0 → 3" in page  # every comment came in the last two weeks
    assert "<script>" not in page
    assert "@example.org" not in page
    assert "C00001" not in page


def test_cli_registers_feedback_commands():
    p = build_parser()
    assert p.parse_args(["serve", "--port", "9999"]).port == 9999
    for cmd in ("responses", "impact", "report"):
        assert callable(p.parse_args([cmd]).func)


class FakeWorld:
    """Stands in for the world simulator when it is not importable: answers with SendGrid-shaped events."""

    def receive_emails(self, sent: pd.DataFrame) -> dict:
        events, replies, ratings = [], [], []
        for i, r in enumerate(sent.itertuples()):
            base = {
                "email": r.email,
                "send_key": r.send_key,
                "sg_message_id": f"{r.message_id}.filter0001.{i}",
            }
            events.append({**base, "event": "delivered", "timestamp": NOW - 500 + i, "sg_event_id": f"d{i}"})
            events.append({**base, "event": "open", "timestamp": NOW - 400 + i, "sg_event_id": f"o{i}"})
            if i == 0:
                events.append({**base, "event": "unsubscribe", "timestamp": NOW - 300})
            if i == 1:
                replies.append(
                    {
                        "from": r.email,
                        "to": "replies@example.org",
                        "subject": "Re: your account",
                        "text": "Thanks, that helped!",
                        "send_key": r.send_key,
                        "headers": "",
                    }
                )
            ratings.append((r.send_key, 5 if i % 2 else 3))
        return {"events": events, "replies": replies, "ratings": ratings}


def test_world_answers_over_http_and_the_loop_closes(duck, settings):
    sends = make_sends(duck, 8)
    settings.outbox_dir.mkdir(parents=True)
    with (settings.outbox_dir / "accepted.jsonl").open("w") as fh:
        for s in sends.itertuples():
            fh.write(
                json.dumps(
                    {
                        "message_id": "MSG1",
                        "to": [s.email],
                        "subject": "x",
                        "custom_args": {"send_key": s.send_key},
                        "categories": [s.playbook],
                        "accepted_at": "2026-11-17T09:00:00",
                    }
                )
                + "\n"
            )
        fh.write("{torn line")
    assert len(read_accepted(settings.outbox_dir)) == 8
    sent = unanswered_sends(settings, duck)
    assert len(sent) == 8
    assert sent["customer_id"].notna().all()
    assert (
        sent["sent_at"] == pd.Timestamp("2026-11-17")
    ).all()  # the ledger's (simulated) time, not the sink's
    with start_receiver_in_thread(settings) as rcv:
        out = deliver_answers(FakeWorld().receive_emails(sent), settings, rcv.url, sent, copies=3, seed=1)
    mark_answered(settings.data_dir, sent["send_key"], datetime(2026, 11, 18))
    assert unanswered_sends(settings, duck).empty
    assert out["event_failed"] == 0
    assert out["one_click"] == 1
    assert out["replies"] == 1
    assert out["ratings"] == 8
    res = process_responses(duck, settings, datetime(2026, 11, 18, 12))
    assert res["events_new"] == 17
    assert duck.row_count("email_events") == 17
    assert duck.row_count("replies") == 1
    assert duck.row_count("ratings") == 8
    assert duck.scalar("SELECT count(*) FROM suppressions") == 1
    assert duck.scalar("SELECT send_key FROM replies") == sends.send_key[1]


def test_the_real_world_answers_through_the_receiver(duck, settings):
    from datetime import date as _date

    from proactive_ml.identity import send_key
    from proactive_ml.sim.answers import answer_world
    from proactive_ml.sim.world import World, WorldConfig

    world = World(WorldConfig(n_customers=400, seed=3))
    cust = world.step()["customers"]
    day = world.today
    cust = cust[cust["cancelled_at"].isna()].head(300)
    keys = [send_key(c, "renewal", day) for c in cust["customer_id"]]
    ts = pd.Timestamp(day) + pd.Timedelta(hours=10)
    duck.insert_frame(
        "send_ledger",
        pd.DataFrame(
            {
                "send_key": keys,
                "customer_id": cust["customer_id"].to_numpy(),
                "playbook": "renewal",
                "window_start": day,
                "state": "accepted",
                "message_id": "MSGW",
                "attempts": 1,
                "created_at": ts,
                "updated_at": ts,
                "send_at": ts,
            }
        ),
        [
            "send_key",
            "customer_id",
            "playbook",
            "window_start",
            "state",
            "message_id",
            "attempts",
            "created_at",
            "updated_at",
            "send_at",
        ],
    )
    settings.outbox_dir.mkdir(parents=True)
    with (settings.outbox_dir / "accepted.jsonl").open("w") as fh:
        for k, e in zip(keys, cust["email"], strict=True):
            fh.write(
                json.dumps(
                    {
                        "message_id": "MSGW",
                        "to": e,
                        "send_key": k,
                        "custom_args": {"send_key": k},
                        "categories": ["proactive", "renewal"],
                        "accepted_at": "2026-11-24T01:00:00",
                    }
                )
                + "\n"
            )
    with start_receiver_in_thread(settings) as rcv:
        out = answer_world(world, settings, rcv.url, datetime(2026, 11, 24), wh=duck, copies=3, seed=2)
        assert answer_world(world, settings, rcv.url, datetime(2026, 11, 24), wh=duck) == {"sends": 0}
    assert out["sends"] == 300
    assert out["event_failed"] == 0
    res = process_responses(duck, settings, datetime(2026, 11, 24, 1))
    n_events = out["event_events"] // 3
    assert res["events_new"] == n_events == duck.row_count("email_events")
    assert duck.scalar("SELECT count(*) FROM email_events WHERE customer_id IS NULL") == 0
    assert duck.scalar("SELECT min(event_ts) FROM email_events") >= ts
    assert duck.row_count("replies") == out["replies"]
    assert duck.row_count("ratings") == out["ratings"]
    notes = [
        (r.kind, r.note)
        for r in RawStore(settings.data_dir / "receiver.sqlite3").all()
        if r.status != "processed"
    ]
    assert res["requests_quarantined"] == 0, notes
    assert _date(2026, 1, 1) <= day
