"""The local SendGrid-compatible sink, driven by the official sendgrid client over HTTP."""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from proactive_ml.delivery.sendgrid import SendGridSender, sink_lookup
from proactive_ml.settings import Settings
from proactive_ml.sim.sink import Fault, audit_request, start_sink_in_thread, validate_mail_send


@pytest.fixture
def sink(settings: Settings) -> Iterator[tuple[str, Any, Settings]]:
    url, stop, ctl = start_sink_in_thread(settings)
    ctl.record_requests = True
    yield url, ctl, settings
    stop()


def body(n: int = 2, **extra: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "from": {"email": "care@example.com", "name": "Care"},
        "personalizations": [
            {
                "to": [{"email": f"u{i}@example.org", "name": f"User {i}"}],
                "subject": f"Hello %fn% {i}",
                "substitutions": {"%fn%": f"U{i}"},
                "custom_args": {"send_key": f"sk_{i:032x}"},
                "headers": {
                    "List-Unsubscribe": f"<https://x.org/u/{i}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
            }
            for i in range(n)
        ],
        "content": [
            {"type": "text/plain", "value": "Hi %fn%"},
            {"type": "text/html", "value": "<p>Hi %fn%</p>"},
        ],
        "categories": ["renewal_risk"],
        "asm": {"group_id": 1},
    }
    b.update(extra)
    return b


def test_accepts_writes_outbox_and_answers_like_sendgrid(sink: tuple[str, Any, Settings]) -> None:
    url, ctl, s = sink
    r = SendGridSender(s.sendgrid_api_key.get_secret_value(), url).send(body(3))
    assert r.status == 202
    mid = r.headers["X-Message-Id"]
    assert len(mid) == 22
    assert int(r.headers["X-RateLimit-Limit"]) > 0
    assert int(r.headers["X-RateLimit-Reset"]) > time.time() - 1
    assert "X-RateLimit-Remaining" in r.headers
    lines = [json.loads(x) for x in (s.outbox_dir / "accepted.jsonl").read_text().splitlines()]
    assert [x["send_key"] for x in lines] == [f"sk_{i:032x}" for i in range(3)]
    assert lines[1]["subject"] == "Hello U1 1"
    assert lines[1]["to"] == "u1@example.org"
    assert lines[1]["message_id"] == mid
    assert lines[1]["categories"] == ["renewal_risk"]
    assert lines[1]["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert ctl.outbox.wait_files(10)
    eml = (s.outbox_dir / f"{mid}.0001.eml").read_text()
    assert "Hi U1" in eml
    assert "List-Unsubscribe: <https://x.org/u/1>" in eml
    assert "To: " in eml
    assert (s.outbox_dir / f"{mid}.0001.html").read_text() == "<p>Hi U1</p>"
    assert sink_lookup(url)([f"sk_{1:032x}", "sk_unknown"]) == {f"sk_{1:032x}": mid}
    with urllib.request.urlopen(f"{url}/v3/_sink/accepted?send_key=sk_{2:032x}") as resp:
        assert json.loads(resp.read())["accepted"] == {f"sk_{2:032x}": mid}
    assert ctl.stats["pii_violations"] == 0
    assert ctl.stats["missing_unsubscribe_headers"] == 0


def test_auth_is_required(sink: tuple[str, Any, Settings]) -> None:
    url, _, _ = sink
    r = SendGridSender("wrong-key", url).send(body())
    assert r.status == 401
    assert "errors" in json.loads(r.body)
    req = urllib.request.Request(
        f"{url}/v3/mail/send",
        data=json.dumps(body()).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req)
    assert exc.value.code == 401


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("from"), "from.email"),
        (lambda b: b.update(personalizations=[]), "personalizations"),
        (lambda b: b.update(personalizations=body(1001)["personalizations"]), "personalizations"),
        (
            lambda b: b["personalizations"][1]["to"].__setitem__(0, {"email": "u0@example.org"}),
            "personalizations.1.to",
        ),
        (lambda b: b["personalizations"][0]["to"][0].update(name="Doe, Jane"), "personalizations.0.to.name"),
        (
            lambda b: b["personalizations"][0]["to"][0].update(email="not-an-address"),
            "personalizations.0.to.email",
        ),
        (lambda b: b["personalizations"][0].pop("subject"), "subject"),
        (lambda b: b.pop("content"), "content"),
        (
            lambda b: b["personalizations"][0].update(custom_args={"x": "y" * 10_000}),
            "personalizations.0.custom_args",
        ),
        (
            lambda b: b["personalizations"][0]["headers"].update({"X-A": "a\r\nBcc: x"}),
            "personalizations.0.headers",
        ),
        (
            lambda b: b.update(
                content=[{"type": "text/html", "value": "x"}, {"type": "text/plain", "value": "y"}]
            ),
            "content.0.type",
        ),
        (lambda b: b.update(asm={"group_id": "1"}), "asm.group_id"),
    ],
)
def test_sendgrid_validation_rules(sink: tuple[str, Any, Settings], mutate: Any, field: str) -> None:
    url, ctl, s = sink
    b = body(2)
    mutate(b)
    r = SendGridSender(s.sendgrid_api_key.get_secret_value(), url).send(b)
    assert r.status == 400
    errs = json.loads(r.body)["errors"]
    assert field in [e["field"] for e in errs]
    assert all(set(e) == {"message", "field", "help"} for e in errs)
    assert not (s.outbox_dir / "accepted.jsonl").read_text()


def test_template_id_replaces_subject_and_content() -> None:
    b = body(1, template_id="d-123")
    b.pop("content")
    b["personalizations"][0].pop("subject")
    assert validate_mail_send(b) == []


def test_too_large_sandbox_and_faults(sink: tuple[str, Any, Settings]) -> None:
    url, ctl, s = sink
    t = SendGridSender(s.sendgrid_api_key.get_secret_value(), url)
    big = body(1)
    big["content"][1]["value"] = "x" * (30 * 1024 * 1024 + 1)
    assert t.send(big).status == 413
    assert t.send(body(1, mail_settings={"sandbox_mode": {"enable": True}})).status == 200
    assert (s.outbox_dir / "accepted.jsonl").read_text() == ""
    assert ctl.stats["sandbox"] == 1
    ctl.inject(Fault(status=429, count=1, reset_in=5))
    r = t.send(body(1))
    assert r.status == 429
    assert r.headers["X-RateLimit-Remaining"] == "0"
    assert time.time() + 3 < int(r.headers["X-RateLimit-Reset"]) <= time.time() + 6
    req = urllib.request.Request(
        f"{url}/v3/_sink/faults",
        data=json.dumps({"status": 503, "count": 1}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(req).close()
    assert t.send(body(1)).status == 503
    ctl.inject(Fault(slow=0.3))
    t0 = time.monotonic()
    assert t.send(body(1)).status == 202
    assert time.monotonic() - t0 >= 0.3
    assert SendGridSender(s.sendgrid_api_key.get_secret_value(), url, timeout=0.2).send(body(1)).status == 202
    ctl.inject(Fault(slow=1.0))
    assert (
        SendGridSender(s.sendgrid_api_key.get_secret_value(), url, timeout=0.2).send(body(1)).status is None
    )


def test_pii_audit_flags_personal_data_and_missing_headers() -> None:
    good = body(2)
    assert audit_request(good) == (0, 0)
    bad = body(2)
    bad["personalizations"][0]["custom_args"] = {"send_key": "sk_1", "email": "u0@example.org"}
    bad["personalizations"][1]["custom_args"] = {"who": "user 1"}
    bad["categories"] = ["renewal_risk", "+49 170 1234567"]
    bad["personalizations"][1]["headers"] = {}
    pii, missing = audit_request(bad)
    assert pii >= 3
    assert missing == 1
    assert audit_request(body(1, categories=["sk_1234567890123456789abc"])) == (0, 0)  # opaque ids are fine


def test_low_priority_file_writer_process(settings: Settings) -> None:
    url, stop, ctl = start_sink_in_thread(settings, writer="process")
    try:
        r = SendGridSender(settings.sendgrid_api_key.get_secret_value(), url).send(body(5))
        assert r.status == 202
        assert ctl.outbox.wait_files(120)
        mid = r.headers["X-Message-Id"]
        assert sorted(p.name for p in settings.outbox_dir.glob(f"{mid}.*")) == sorted(
            f"{mid}.{i:04d}.{ext}" for i in range(5) for ext in ("eml", "html")
        )
        assert "Hi U4" in (settings.outbox_dir / f"{mid}.0004.eml").read_text()
    finally:
        stop()


def test_embedded_sink_leaves_the_host_logging_alone(settings: Settings) -> None:
    """uvicorn's default logging setup closes every existing handler; inside a Prefect flow that deadlocked the run
    (Prefect's API log handler flushes under the logging lock while its event loop waits for that lock)."""

    class Spy(logging.Handler):
        closed = False

        def close(self) -> None:
            self.closed = True
            super().close()

    spy = Spy()
    logging.getLogger().addHandler(spy)
    try:
        _url, stop, _ctl = start_sink_in_thread(settings)
        stop()
        assert not spy.closed
    finally:
        logging.getLogger().removeHandler(spy)
