"""The sender is chosen once from the settings: the local sink (with its authoritative lookup) or SendGrid."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from proactive_ml.delivery import EmailSender, SendGridSender, sender_from_settings
from proactive_ml.settings import Settings
from proactive_ml.sim.sink import start_sink_in_thread


@pytest.fixture
def sink(settings: Settings) -> Iterator[Settings]:
    url, stop, _ = start_sink_in_thread(settings)
    yield settings.model_copy(update={"sendgrid_host": url})
    stop()


def body(key: str) -> dict[str, Any]:
    return {
        "from": {"email": "care@example.com", "name": "Care"},
        "personalizations": [
            {
                "to": [{"email": "ann@example.org"}],
                "custom_args": {"send_key": key},
                "headers": {
                    "List-Unsubscribe": "<https://x.example/u>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
            }
        ],
        "subject": "Hello",
        "content": [{"type": "text/plain", "value": "Hi"}],
        "asm": {"group_id": 1},
    }


def test_default_settings_choose_the_local_sink_with_a_lookup(settings: Settings) -> None:
    sender = sender_from_settings(settings, timeout=7.0)
    assert isinstance(sender, SendGridSender)
    assert sender.host == "http://127.0.0.1:3025"
    assert sender.timeout == 7.0
    assert sender.lookup is not None  # the sink answers which send keys it accepted


def test_sendgrid_host_chooses_sendgrid_without_a_lookup(settings: Settings) -> None:
    s = settings.model_copy(
        update={"sendgrid_host": "https://api.sendgrid.com/", "sendgrid_api_key": SecretStr("SG.real")}
    )
    sender = sender_from_settings(s)
    assert isinstance(sender, SendGridSender)
    assert sender.host == "https://api.sendgrid.com"
    assert sender.lookup is None  # SendGrid has no such API: events resolve ambiguous sends


def test_sink_sender_sends_and_its_lookup_is_authoritative(sink: Settings) -> None:
    sender: EmailSender = sender_from_settings(sink, timeout=5.0)
    key = f"sk_{7:032x}"
    reply = sender.send(body(key))
    assert reply.status == 202
    assert reply.headers is not None
    mid = reply.headers.get("X-Message-Id")
    assert mid
    assert sender.lookup is not None
    assert sender.lookup([key, "sk_unknown"]) == {key: mid}
    accepted = [json.loads(x) for x in (sink.outbox_dir / "accepted.jsonl").read_text().splitlines()]
    assert [x["send_key"] for x in accepted] == [key]


def test_http_errors_and_no_answer_come_back_as_replies(sink: Settings) -> None:
    wrong = sender_from_settings(sink.model_copy(update={"sendgrid_api_key": SecretStr("wrong")}))
    assert wrong.send(body(f"sk_{8:032x}")).status == 401
    closed = sender_from_settings(
        sink.model_copy(update={"sendgrid_host": "http://127.0.0.1:9"}), timeout=2.0
    )
    reply = closed.send(body(f"sk_{9:032x}"))
    assert reply.status is None  # no answer: the caller treats it as ambiguous
    assert "Error" in reply.body
