"""Inbound replies (hostile input), unsubscribe paths and ratings."""

from __future__ import annotations

import json
import random
from datetime import datetime

import pytest
from starlette.testclient import TestClient

from proactive_ml.identity import email_hash, sign_token
from proactive_ml.responses.parse import is_auto_reply, parse_inbound, says_stop
from proactive_ml.responses.processing import process_responses
from proactive_ml.responses.receiver import create_app, local_webhook_keys, signed_headers
from proactive_ml.responses.suppressions import suppression_frame
from proactive_ml.sim.answers import inbound_form
from proactive_ml.sim.fixtures import NOW, make_sends

AS_OF = datetime(2026, 11, 18, 12)


@pytest.fixture
def app(settings):
    local_webhook_keys(settings.data_dir)
    return create_app(settings, clock=lambda: NOW)


def inbound_url(settings) -> str:
    return f"/webhooks/sendgrid/inbound/{settings.inbound_secret.get_secret_value()}"


def multipart(fields: dict[str, bytes], boundary: str = "xYzZY") -> tuple[bytes, str]:
    parts = []
    for k, v in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode() + v + b"\r\n"
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def hostile_posts(n: int, seed: int = 5) -> list[tuple[bytes, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = i % 10
        f = {
            "from": f"person{i % 7}@example.org".encode(),
            "to": b"care@example.com",
            "subject": b"Re: your account",
            "text": b"thanks",
            "headers": b"Subject: hi\r\n",
            "charsets": b'{"subject":"UTF-8","text":"UTF-8","from":"UTF-8"}',
            "SPF": b"pass",
        }
        if kind == 0:  # bad charsets
            f["charsets"] = json.dumps({"text": "x-klingon-" + str(i), "subject": "\u0000"}).encode()
            f["text"] = bytes(rng.randrange(256) for _ in range(300))
        elif kind == 1:  # huge body (a few)
            f["text"] = (b"A" * (1_200_000 if i % 100 == 1 else 200_000)) + b" stop"
        elif kind == 2:  # script HTML
            f["html"] = b"<script>alert(1)</script><img src=x onerror=alert(2)>"
            f.pop("text")
        elif kind == 3:  # CR/LF in subject
            f["subject"] = b"Re: hi\r\nBcc: victim@example.net\r\n\r\nstop"
        elif kind == 4:  # forged / garbage senders
            f["from"] = rng.choice(
                [
                    b"",
                    b"not an address",
                    b"a@b",
                    b'"Bank" <ceo@evil.example\r\nX: y>',
                    b"<script>@x.com",
                    "\u00e9\u00e9@\u00e9.com".encode(),
                ]
            )
        elif kind == 5:  # not multipart at all
            out.append((bytes(rng.randrange(256) for _ in range(500)), "application/octet-stream"))
            continue
        elif kind == 6:  # broken multipart
            body, ct = multipart(f)
            out.append((body[: rng.randrange(1, len(body))], ct))
            continue
        elif kind == 7:  # malformed charsets JSON, latin-1 text
            f["charsets"] = b"{not json"
            f["text"] = "Bitte h\u00f6rt auf, stop".encode("latin-1")
        elif kind == 8:  # header bombs
            f["headers"] = b"Auto-Submitted: auto-replied\r\n" + b"X-Long: " + b"z" * 100_000 + b"\r\n"
        body, ct = multipart(f, boundary=f"b{i}")
        out.append((body, ct))
    return out


def test_1000_hostile_inbound_posts_never_crash_each_parsed_or_quarantined(duck, settings, app):
    make_sends(duck, 5)
    posts = hostile_posts(1000)
    with TestClient(app) as c:
        for body, ct in posts:
            r = c.post(inbound_url(settings), content=body, headers={"Content-Type": ct})
            assert r.status_code == 200
        store = app.state.store
        assert store.count("inbound") == 1000
    out = process_responses(duck, settings, AS_OF)
    rows = store.all()
    assert {r.status for r in rows} <= {"processed", "quarantined"}
    quarantined = [r for r in rows if r.status == "quarantined"]
    assert quarantined
    assert all(r.note for r in quarantined)
    assert out["replies_quarantined"] + out["requests_quarantined"] >= len(quarantined) - 1
    # parsed replies are stored; subjects with CR/LF never reach the replies table
    replies = duck.query("SELECT * FROM replies")
    assert len(replies) > 0
    assert not replies["subject"].str.contains("\r|\n", regex=True).any()
    assert replies["is_auto"].any()  # the Auto-Submitted ones


def test_inbound_needs_the_secret(settings, app):
    body, ct = multipart({"from": b"a@example.org", "text": b"stop"})
    with TestClient(app) as c:
        assert (
            c.post("/webhooks/sendgrid/inbound/wrong", content=body, headers={"Content-Type": ct}).status_code
            == 404
        )
        assert app.state.store.count() == 0


def test_auto_reply_and_stop_detection():
    assert is_auto_reply({"auto-submitted": "auto-replied"}, "Re: x", "")
    assert is_auto_reply({"x-autoreply": "yes"}, "Re: x", "")
    assert is_auto_reply({}, "Out of Office: back Monday", "")
    assert is_auto_reply({}, "Re: x", "I am out of office until Monday")
    assert not is_auto_reply({"auto-submitted": "no"}, "Re: your account", "Thanks!")
    assert says_stop("Re: x", "Please STOP emailing me")
    assert says_stop("unsubscribe", "")
    assert not says_stop(
        "Re: x", "Thanks, very helpful\n\nOn Mon, care@example.com wrote:\n> unsubscribe here"
    )


def test_every_unsubscribe_path_suppresses_and_get_never_changes_state(wh, settings, app):
    sends = make_sends(wh, 6)
    secret = settings.signing_secret.get_secret_value()
    s0, s1, s2, s3 = (sends.iloc[i] for i in range(4))
    keys = local_webhook_keys(settings.data_dir)
    with TestClient(app) as c:
        # GET shows a confirmation page with a POST form, stores nothing
        for _ in range(3):
            page = c.get(f"/u/{sign_token(s0.send_key, secret)}")
            assert page.status_code == 200
            assert 'method="post"' in page.text
            assert "One-Click" in page.text
        assert app.state.store.count() == 0
        assert c.get("/u/sk_forged.deadbeef").status_code == 404
        assert c.post("/u/sk_forged.deadbeef", content=b"List-Unsubscribe=One-Click").status_code == 404
        # 1) RFC 8058 one-click POST
        r = c.post(
            f"/u/{sign_token(s0.send_key, secret)}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 200
        # 2) event webhook (unsubscribe event, no sg_event_id)
        body = json.dumps(
            [{"email": s1.email, "event": "unsubscribe", "timestamp": NOW - 5, "send_key": s1.send_key}]
        ).encode()
        assert (
            c.post(
                "/webhooks/sendgrid/events", content=body, headers=signed_headers(keys[0], body, NOW)
            ).status_code
            == 200
        )
        # 3) a reply that says stop (and an out-of-office that mentions unsubscribe: no suppression)
        form = inbound_form(
            {
                "from": s2.email,
                "subject": "Re: your account",
                "text": "Please stop.",
                "send_key": s2.send_key,
            },
            "MSG1",
            settings.sender_email,
        )
        c.post(inbound_url(settings), files={k: (None, v.encode()) for k, v in form.items()})
        ooo = inbound_form(
            {
                "from": s3.email,
                "subject": "Automatic reply: your account",
                "text": "to unsubscribe..",
                "send_key": s3.send_key,
                "headers": "Auto-Submitted: auto-replied",
            },
            None,
            "r@example.org",
        )
        c.post(inbound_url(settings), files={k: (None, v.encode()) for k, v in ooo.items()})
    process_responses(wh, settings, AS_OF)
    supp = suppression_frame(wh)
    got = dict(zip(supp["email_sha256"], supp["reason"], strict=True))
    assert got == {
        email_hash(s0.email): "unsubscribe",
        email_hash(s1.email): "unsubscribe",
        email_hash(s2.email): "reply_stop",
    }
    assert set(supp["customer_id"]) == {s0.customer_id, s1.customer_id, s2.customer_id}
    rep = wh.query("SELECT send_key, is_auto, is_stop, sender_matches_send FROM replies ORDER BY is_auto")
    assert rep["send_key"].tolist() == [s2.send_key, s3.send_key]
    assert rep["is_auto"].tolist() == [False, True]
    assert rep["sender_matches_send"].all()


def test_ratings_recorded_per_send_and_idempotent(wh, settings, app):
    sends = make_sends(wh, 3)
    secret = settings.signing_secret.get_secret_value()
    t0, t1 = sign_token(sends.send_key[0], secret), sign_token(sends.send_key[1], secret)
    with TestClient(app) as c:
        assert c.get(f"/r/{t0}/4").status_code == 200
        assert c.get(f"/r/{t0}/4").status_code == 200
        assert c.get(f"/r/{t1}/2").status_code == 200
        assert c.get(f"/r/{t1}/9").status_code == 400
        assert c.get(f"/r/{t1}.x/3").status_code == 404
    process_responses(wh, settings, AS_OF)
    with TestClient(app) as c:
        assert c.get(f"/r/{t1}/5").status_code == 200  # the person corrects the click: the latest wins
    process_responses(wh, settings, AS_OF)
    process_responses(wh, settings, AS_OF)
    got = wh.query("SELECT send_key, score, customer_id FROM ratings ORDER BY customer_id")
    assert got["score"].tolist() == [4, 5]
    assert got["customer_id"].tolist() == ["C0000", "C0001"]
    assert wh.scalar("SELECT count(*) FROM suppressions") == 0


def test_parse_inbound_rejects_without_raising():
    assert parse_inbound({}, b"") == "not multipart/form-data"
    assert isinstance(parse_inbound({"content-type": "multipart/form-data; boundary=z"}, b"\x00" * 10), str)


def test_one_click_reaches_the_suppression_list_at_once_when_the_receiver_has_the_warehouse(
    wh, warehouse_url, settings
):
    sends = make_sends(wh, 2)
    local_webhook_keys(settings.data_dir)
    app = create_app(settings, warehouse_url, clock=lambda: NOW)
    tok = sign_token(sends.send_key[1], settings.signing_secret.get_secret_value())
    with TestClient(app) as c:
        assert c.post(f"/u/{tok}", content=b"List-Unsubscribe=One-Click").status_code == 200
    supp = suppression_frame(wh)  # before any responses flow ran
    assert supp["email_sha256"].tolist() == [email_hash(sends.email[1])]
    assert supp["source"].tolist() == ["one_click"]


def test_an_unsubscribe_for_an_unknown_address_waits_instead_of_being_dropped(duck, settings, app):
    sends = make_sends(duck, 2)
    duck.execute("DELETE FROM customers")  # the address is not known (yet)
    tok = sign_token(sends.send_key[0], settings.signing_secret.get_secret_value())
    with TestClient(app) as c:
        assert c.post(f"/u/{tok}", content=b"List-Unsubscribe=One-Click").status_code == 200
    assert process_responses(duck, settings, AS_OF)["unsubscribes_waiting"] == 1
    assert duck.scalar("SELECT count(*) FROM suppressions") == 0
    keys = local_webhook_keys(settings.data_dir)
    body = json.dumps(
        [
            {
                "email": sends.email[0],
                "event": "delivered",
                "timestamp": NOW - 50,
                "send_key": sends.send_key[0],
                "sg_event_id": "d0",
            }
        ]
    ).encode()
    with TestClient(app) as c:
        assert (
            c.post(
                "/webhooks/sendgrid/events", content=body, headers=signed_headers(keys[0], body, NOW)
            ).status_code
            == 200
        )
    out = process_responses(duck, settings, AS_OF)
    assert out["unsubscribes_waiting"] == 0
    assert out["unsubscribes"] == 1
    assert suppression_frame(duck)["email_sha256"].tolist() == [email_hash(sends.email[0])]
