"""Receiver: signed webhook verification on raw bytes, durable storage, inbound replies, unsubscribe, ratings."""

from __future__ import annotations

import base64
import json
import random
import threading
from datetime import datetime

import pandas as pd
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient

from proactive_ml.identity import email_hash, send_key, sign_token
from proactive_ml.responses import receiver
from proactive_ml.responses.processing import process_responses
from proactive_ml.responses.receiver import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    create_app,
    local_webhook_keys,
    signed_headers,
    start_receiver_in_thread,
)
from proactive_ml.responses.store import RawStore, raw_store_path
from proactive_ml.responses.suppressions import suppression_frame
from proactive_ml.sim.answers import duplicate_events, post_signed_batches
from proactive_ml.sim.fixtures import NOW, make_sends
from proactive_ml.warehouse import Warehouse

EVENT_PATH = "/webhooks/sendgrid/events"


def make_events(sends: pd.DataFrame, kinds=("delivered", "open", "click")) -> list[dict]:
    out = []
    for j, s in enumerate(sends.itertuples()):
        for k, kind in enumerate(kinds):
            out.append(
                {
                    "email": s.email,
                    "timestamp": NOW - 3600 + j * 10 + k,
                    "event": kind,
                    "sg_event_id": f"ev-{j}-{kind}",
                    "sg_message_id": f"MSG1.filter{j}",
                    "send_key": s.send_key,
                    "category": [s.playbook],
                }
            )
    return out


@pytest.fixture
def keys(settings):
    return local_webhook_keys(settings.data_dir)


@pytest.fixture
def client(settings, keys):
    app = create_app(settings, clock=lambda: NOW)
    with TestClient(app) as c:
        c.store = app.state.store  # type: ignore[attr-defined]
        yield c


def post(client, body: bytes, headers: dict):
    return client.post(EVENT_PATH, content=body, headers=headers)


def test_valid_signed_batch_is_stored_before_200(client, keys):
    body = json.dumps([{"email": "a@example.org", "event": "open", "timestamp": NOW}]).encode()
    r = post(client, body, signed_headers(keys[0], body, NOW))
    assert r.status_code == 200
    stored = client.store.all()
    assert len(stored) == 1
    assert stored[0].body == body
    assert stored[0].kind == "events"


def _other_key_pem() -> bytes:
    k = ec.generate_private_key(ec.SECP256R1())
    return k.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_forged_tampered_stale_unsigned_are_refused_and_nothing_stored(client, keys, settings):
    body = json.dumps(
        [{"email": "a@example.org", "event": "open", "timestamp": NOW, "sg_event_id": "x"}]
    ).encode()
    good = signed_headers(keys[0], body, NOW)
    cases = []
    forged = dict(good)
    forged[SIGNATURE_HEADER] = base64.b64encode(random.Random(1).randbytes(70)).decode()
    cases.append(("forged signature", body, forged))
    cases.append(("garbage signature", body, {**good, SIGNATURE_HEADER: "not-base64!!"}))
    cases.append(("wrong key", body, signed_headers(_other_key_pem(), body, NOW)))
    for pos in (0, len(body) // 2, len(body) - 1):
        changed = bytearray(body)
        changed[pos] ^= 0x01
        cases.append((f"one changed byte at {pos}", bytes(changed), good))
    cases.append(("changed timestamp", body, {**good, TIMESTAMP_HEADER: str(NOW + 1)}))
    cases.append(("missing timestamp", body, {k: v for k, v in good.items() if k != TIMESTAMP_HEADER}))
    cases.append(("missing signature", body, {k: v for k, v in good.items() if k != SIGNATURE_HEADER}))
    cases.append(("missing headers", body, {"Content-Type": "application/json"}))
    stale_ts = NOW - settings.webhook_replay_window_seconds - 1
    cases.append(("stale", body, signed_headers(keys[0], body, stale_ts)))
    cases.append(
        ("future", body, signed_headers(keys[0], body, NOW + settings.webhook_replay_window_seconds + 5))
    )
    cases.append(("non-numeric timestamp", body, {**good, TIMESTAMP_HEADER: "yesterday"}))
    # re-serialized JSON (same events, different bytes) must fail: proves the raw bytes are verified
    reserialized = json.dumps(json.loads(body), indent=1).encode()
    assert reserialized != body
    assert json.loads(reserialized) == json.loads(body)
    cases.append(("re-serialized JSON", reserialized, good))
    cases.append(("invalid utf-8", b"\xff\xfe" + body, good))
    for name, b, h in cases:
        r = post(client, b, h)
        assert r.status_code in (401, 403), f"{name}: {r.status_code}"
    assert client.store.count() == 0


def test_malformed_json_gets_400_and_nothing_stored(client, keys):
    for body in (b'[{"event": "open",', b"not json", b'{"event": "open"}'):
        r = post(client, body, signed_headers(keys[0], body, NOW))
        assert r.status_code == 400
    assert client.store.count() == 0


def test_oversized_batches_are_refused_unread(client, keys, monkeypatch):
    monkeypatch.setattr(receiver, "MAX_EVENT_BODY_BYTES", 1000)
    body = json.dumps([{"email": "a@example.org", "event": "open", "timestamp": NOW}] * 50).encode()

    def chunks():
        yield body[:600]
        yield body[600:]

    assert (
        client.post(EVENT_PATH, content=chunks(), headers=signed_headers(keys[0], body, NOW)).status_code
        == 413
    )
    assert (
        client.post(EVENT_PATH, content=body, headers=signed_headers(keys[0], body, NOW)).status_code == 413
    )
    assert client.store.count() == 0


def test_storage_failure_answers_5xx(settings, keys):
    class Broken(RawStore):
        def append(self, *a, **k):  # noqa: ANN002, ANN003
            raise OSError("disk full")

    app = create_app(settings, store=Broken(raw_store_path(settings)), clock=lambda: NOW)
    body = b"[]"
    with TestClient(app) as c:
        assert c.post(EVENT_PATH, content=body, headers=signed_headers(keys[0], body, NOW)).status_code == 503
        tok = sign_token(send_key("C1", "renewal", "2026-11-16"), settings.signing_secret.get_secret_value())
        assert c.post(f"/u/{tok}", content=b"List-Unsubscribe=One-Click").status_code == 503


def test_every_event_three_times_shuffled_concurrent_and_one_46_times_counted_once(wh, settings, keys):
    sends = make_sends(wh, 40)
    events = make_events(sends)
    # unsubscribe events carry no sg_event_id
    events += [
        {"email": s.email, "timestamp": NOW - 100, "event": "unsubscribe", "send_key": s.send_key}
        for s in sends.head(3).itertuples()
    ]
    copies = duplicate_events(events, copies=3, seed=7, changed_id_share=0.3)
    copies += [dict(events[5]) for _ in range(46)]
    random.Random(3).shuffle(copies)
    with start_receiver_in_thread(settings) as rcv:
        stats = post_signed_batches(rcv.url, keys[0], copies, batch_size=37, concurrency=6)
    assert stats["failed"] == 0
    out = process_responses(wh, settings, datetime(2026, 11, 18, 12))
    assert out["events_received"] == len(copies)
    assert out["events_new"] == len(events) == wh.row_count("email_events")
    n = wh.query("SELECT send_key, event, event_ts, count(*) AS n FROM email_events GROUP BY 1, 2, 3")
    assert (n["n"] == 1).all()
    assert wh.scalar("SELECT count(*) FROM email_events WHERE send_key IS NULL OR customer_id IS NULL") == 0
    # the same copies delivered again later (retries), and a rerun of the flow: nothing new
    app = create_app(settings, clock=lambda: NOW)
    with TestClient(app) as c:
        body = json.dumps(copies[:500]).encode()
        assert c.post(EVENT_PATH, content=body, headers=signed_headers(keys[0], body, NOW)).status_code == 200
    again = process_responses(wh, settings, datetime(2026, 11, 18, 13))
    assert again["events_new"] == 0
    assert wh.row_count("email_events") == len(events)
    assert process_responses(wh, settings, datetime(2026, 11, 18, 14))["requests"] == 0
    supp = suppression_frame(wh)
    assert set(supp["email_sha256"]) == {email_hash(e) for e in sends.head(3)["email"]}
    assert set(supp["reason"]) == {"unsubscribe"}


def test_invalid_events_are_quarantined_with_reason(duck, settings, client, keys):
    sends = make_sends(duck, 2)
    good = make_events(sends, kinds=("open",))
    bad = [
        {"email": "x@example.org", "event": "teleported", "timestamp": NOW},
        "not an object",
        {"event": "open", "timestamp": NOW},
        {"email": "y@example.org", "event": "open", "timestamp": "soon"},
    ]
    body = json.dumps(good + bad).encode()
    assert post(client, body, signed_headers(keys[0], body, NOW)).status_code == 200
    out = process_responses(duck, settings, datetime(2026, 11, 18, 12))
    assert out["events_new"] == 2
    assert out["events_quarantined"] == 4
    q = duck.query("SELECT * FROM response_quarantine ORDER BY item")
    assert len(q) == 4
    assert q["reason"].str.len().gt(0).all()
    assert out["gx"]["email_events"]["gx_success"] is False
    assert "expect_column_values_to_be_in_set(event)" in out["gx"]["email_events"]["failures"]
    # the same validation machinery as ingest: the batch's GX result has a Data Docs page
    assert list((settings.data_docs_dir / "validations" / "email_events").rglob("*.html"))


def test_overlapping_responses_runs_count_each_event_once(wh, warehouse_url, settings, keys):
    sends = make_sends(wh, 30)
    events = make_events(sends)
    app = create_app(settings, clock=lambda: NOW)
    with TestClient(app) as c:
        for i in range(0, len(events), 10):
            body = json.dumps(events[i : i + 10]).encode()
            assert post(c, body, signed_headers(keys[0], body, NOW)).status_code == 200
    if wh.backend == "duckdb":
        wh.close()  # one process, one DuckDB connection per thread below
    errors: list[BaseException] = []

    def run() -> None:
        try:
            w = Warehouse.connect(warehouse_url)
            try:
                process_responses(
                    w, settings, datetime(2026, 11, 18, 12), store=RawStore(raw_store_path(settings))
                )
            finally:
                w.close()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with Warehouse.connect(warehouse_url) as w:
        assert w.row_count("email_events") == len(events)
    assert not errors or wh.backend == "duckdb", errors
