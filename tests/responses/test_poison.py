"""Poison events (issue 16, item 1): a signed event whose timestamp no database can hold.

One stored event with ``"timestamp": 1e20`` (or an integer >= 2**63) used to make every later responses run fail.
Now the receiver refuses such a batch, and a bad item already stored is quarantined with its reason while the rest
of the batch -- and later requests -- are processed.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from starlette.testclient import TestClient

from proactive_ml.responses.processing import process_responses
from proactive_ml.responses.receiver import create_app, local_webhook_keys, signed_headers
from proactive_ml.responses.store import RawStore, raw_store_path
from proactive_ml.responses.suppressions import suppression_frame
from proactive_ml.sim.fixtures import NOW, make_sends

EVENT_PATH = "/webhooks/sendgrid/events"
POISON = ["1e20", str(2**63), str(-(2**63) - 1), "1e400", "123456789012345678901234567890"]


def _event(s, kind: str, ts: str = str(NOW)) -> str:
    return (
        f'{{"email": "{s.email}", "event": "{kind}", "timestamp": {ts}, '
        f'"sg_event_id": "ev-{s.send_key}-{kind}", "send_key": "{s.send_key}"}}'
    )


@pytest.mark.parametrize("ts", POISON)
def test_receiver_refuses_a_batch_with_an_unrepresentable_timestamp(settings, ts):
    keys = local_webhook_keys(settings.data_dir)
    app = create_app(settings, clock=lambda: NOW)
    body = f'[{{"email": "a@example.org", "event": "open", "timestamp": {ts}}}]'.encode()
    with TestClient(app) as c:
        r = c.post(EVENT_PATH, content=body, headers=signed_headers(keys[0], body, NOW))
    assert r.status_code == 400
    assert "event 0" in r.json()["error"]
    assert "timestamp" in r.json()["error"]
    assert app.state.store.count() == 0


def test_stored_poison_events_are_quarantined_and_the_rest_processed(wh, settings):
    """The rows stored before the receiver checked: quarantined with a reason, never blocking later runs."""
    sends = make_sends(wh, 3)
    store = RawStore(raw_store_path(settings))
    s0, s1, s2 = sends.itertuples()
    poison = [_event(s0, "open", ts) for ts in POISON]
    first = "[" + ",".join([_event(s0, "unsubscribe"), *poison]) + "]"
    store.append("events", EVENT_PATH, {}, first.encode(), datetime(2026, 11, 18, 11))
    store.append(
        "events", EVENT_PATH, {}, b'[{"timestamp": 1e20, "event": "bounce"}]', datetime(2026, 11, 18, 11)
    )
    out = process_responses(wh, settings, datetime(2026, 11, 18, 12), store=store, use_gx=False)
    assert out["events_new"] == 1
    assert out["events_quarantined"] == len(POISON) + 1
    q = wh.query("SELECT raw_id, item, reason FROM response_quarantine ORDER BY raw_id, item")
    assert len(q) == len(POISON) + 1
    assert q["reason"].str.contains("timestamp").all()
    # a later batch (a bounce and an unsubscribe) is applied: the poison does not block the flow
    later = "[" + ",".join([_event(s1, "bounce"), _event(s2, "unsubscribe")]) + "]"
    store.append("events", EVENT_PATH, {}, later.encode(), datetime(2026, 11, 18, 12))
    again = process_responses(wh, settings, datetime(2026, 11, 18, 13), store=store, use_gx=False)
    assert again["events_new"] == 2
    assert set(suppression_frame(wh)["reason"]) == {"unsubscribe", "bounce"}
    assert {r.status for r in store.all()} == {"processed"}


def test_a_request_the_parser_cannot_handle_is_quarantined_not_raised(duck, settings, monkeypatch):
    """Any unexpected failure parsing one stored request quarantines that request; the others go on."""
    from proactive_ml.responses import parse

    sends = make_sends(duck, 1)
    store = RawStore(raw_store_path(settings))
    (s0,) = sends.itertuples()
    store.append("events", EVENT_PATH, {}, b'[{"event": "open", "boom": 1}]', datetime(2026, 11, 18, 11))
    store.append("events", EVENT_PATH, {}, f"[{_event(s0, 'open')}]".encode(), datetime(2026, 11, 18, 11))
    real = parse._event_row

    def fragile(raw_id, i, ev):
        if "boom" in ev:
            raise RecursionError("deep")
        return real(raw_id, i, ev)

    monkeypatch.setattr(parse, "_event_row", fragile)
    out = process_responses(duck, settings, datetime(2026, 11, 18, 12), store=store, use_gx=False)
    assert out["events_new"] == 1
    q = duck.query("SELECT raw_id, item, reason FROM response_quarantine")
    assert q["reason"].tolist() == ["unparseable: RecursionError"]
    assert [r.status for r in store.all()] == ["quarantined", "processed"]


def _form(fields: dict[str, bytes], boundary: str = "nulNUL") -> tuple[bytes, str]:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode() + v + b"\r\n"
        for k, v in fields.items()
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_nul_bytes_in_stored_events_and_replies_never_block_the_flow(wh, settings):
    """A NUL (which no PostgreSQL text can hold) in an event's ids, url or reason, or in a reply: stored safely."""
    sends = make_sends(wh, 2)
    store = RawStore(raw_store_path(settings))
    s0, s1 = sends.itertuples()
    nul = (
        f'[{{"email": "{s0.email}", "event": "click", "timestamp": {NOW}, "sg_event_id": "ev\\u0000x", '
        f'"send_key": "{s0.send_key}", "url": "https://x.example/\\u0000", "reason": "r\\u0000", '
        f'"sg_message_id": "m\\u0000.1"}}]'
    )
    store.append("events", EVENT_PATH, {}, nul.encode(), datetime(2026, 11, 18, 11))
    body, ctype = _form(
        {
            "from": s1.email.encode(),
            "to": b"replies@example.com",
            "subject": b"Re: hello\x00there",
            "text": b"thanks\x00 a lot",
            "headers": b"Subject: Re: hello\r\nMessage-ID: <n\x00ul@example.net>\r\n",
        }
    )
    store.append(
        "inbound", "/webhooks/sendgrid/inbound", {"content-type": ctype}, body, datetime(2026, 11, 18, 11)
    )
    out = process_responses(wh, settings, datetime(2026, 11, 18, 12), store=store, use_gx=False)
    assert out["events_new"] == 1
    assert out["replies_new"] == 1
    ev = wh.query("SELECT sg_event_id, url, reason FROM email_events")
    assert not any("\x00" in str(v) for v in ev.iloc[0])
    reply = wh.query("SELECT subject, body_text FROM replies")
    assert reply["subject"][0] == "Re: hello\ufffdthere"
    later = f"[{_event(s1, 'bounce')}]"
    store.append("events", EVENT_PATH, {}, later.encode(), datetime(2026, 11, 18, 12))
    assert (
        process_responses(wh, settings, datetime(2026, 11, 18, 13), store=store, use_gx=False)["events_new"]
        == 1
    )


def test_a_request_the_warehouse_refuses_is_isolated_and_quarantined(wh, settings, monkeypatch):
    """Whatever the next poison is: the warehouse refusing one request's rows quarantines that request only."""
    from proactive_ml.responses import processing

    sends = make_sends(wh, 5)
    store = RawStore(raw_store_path(settings))
    ids = [
        store.append(
            "events", EVENT_PATH, {}, f"[{_event(s, 'bounce')}]".encode(), datetime(2026, 11, 18, 11)
        )
        for s in sends.itertuples()
    ]
    poison = ids[3]
    real = processing.write_rows

    def refusing(
        w, rows, at
    ):  # the warehouse refuses this request's rows (a real database error, rolled back)
        if poison in set(rows.events["raw_id"]):
            with w.transaction():
                w.execute("SELECT CAST('not a number' AS INTEGER)")
        return real(w, rows, at)

    monkeypatch.setattr(processing, "write_rows", refusing)
    out = process_responses(wh, settings, datetime(2026, 11, 18, 12), store=store, use_gx=False)
    assert (out["events_new"], out["requests_quarantined"]) == (4, 1)
    status = {r.id: (r.status, r.note) for r in store.all()}
    assert status[poison][0] == "quarantined"
    assert status[poison][1].startswith("unstorable: ")
    assert {s for i, (s, _) in status.items() if i != poison} == {"processed"}
    q = wh.query("SELECT raw_id, item, reason FROM response_quarantine")
    assert q["raw_id"].tolist() == [poison]
    assert wh.row_count("suppressions") == 4


def test_when_every_request_fails_the_run_fails_and_nothing_is_quarantined(duck, settings, monkeypatch):
    """A fault of the run itself (here: every write refused) is raised, not hidden as a mass quarantine."""
    from proactive_ml.responses import processing

    sends = make_sends(duck, 3)
    store = RawStore(raw_store_path(settings))
    for s in sends.itertuples():
        store.append("events", EVENT_PATH, {}, f"[{_event(s, 'open')}]".encode(), datetime(2026, 11, 18, 11))

    def refusing(w, rows, at):
        with w.transaction():
            w.execute("SELECT CAST('not a number' AS INTEGER)")

    monkeypatch.setattr(processing, "write_rows", refusing)
    with pytest.raises(Exception, match="not a number"):
        process_responses(duck, settings, datetime(2026, 11, 18, 12), store=store, use_gx=False)
    assert {r.status for r in store.all()} == {"new"}
