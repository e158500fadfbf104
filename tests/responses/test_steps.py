"""The responses flow's steps, each a pure function, on a few rows: parse, validate, attribute, dedupe, suppress."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd

from proactive_ml.identity import email_hash, send_key, sign_token
from proactive_ml.responses.attribute import (
    EVENT_COLUMNS,
    RATING_COLUMNS,
    REPLY_COLUMNS,
    SendIndex,
    attribute_clicks,
    attribute_events,
    attribute_replies,
)
from proactive_ml.responses.checks import SuiteResult, check_frame
from proactive_ml.responses.parse import (
    Rejected,
    parse_clicks,
    parse_events,
    parse_replies,
)
from proactive_ml.responses.steps import (
    dedupe_events,
    dedupe_replies,
    derive_suppressions,
    event_suppressions,
    latest_ratings,
    merge_rejected,
    quarantine_rows,
    validate_events,
    validate_replies,
)
from proactive_ml.responses.store import RawRequest
from proactive_ml.sim.answers import inbound_form

AT = datetime(2026, 3, 2, 12, 0)
SECRET = "test-secret"
SK_A = send_key("C1", "save_at_risk", "2026-03-01")
SK_B = send_key("C2", "save_at_risk", "2026-03-01")
ADDR_A, ADDR_B = "a@example.com", "b@example.com"


def _req(rid: int, kind: str, body: bytes = b"", path: str = "/", headers: dict | None = None) -> RawRequest:
    return RawRequest(rid, kind, path, headers or {}, body, datetime(2026, 3, 2, 9, rid), "new", None)


def _index() -> SendIndex:
    lookup = pd.DataFrame(
        {
            "send_key": [SK_A, SK_B],
            "customer_id": ["C1", "C2"],
            "playbook": ["save_at_risk", "save_at_risk"],
            "email": [ADDR_A, ADDR_B],
            "message_id": ["msgA", "msgA"],
        }
    )
    return SendIndex.from_lookup(lookup)


def _multipart(fields: dict[str, str], boundary: str = "b0und") -> tuple[bytes, dict[str, str]]:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"content-type": f"multipart/form-data; boundary={boundary}"}


def _result(valid: list[bool], reason: str = "rule") -> SuiteResult:
    mask = pd.Series(valid)
    return SuiteResult("s", all(valid), mask, pd.Series(["" if v else reason for v in valid]), {}, None)


# ------------------------------------------------------------------ parse
def test_parse_events_rows_and_refusals() -> None:
    batch = [
        {"event": "open", "timestamp": 1_772_000_000, "email": ADDR_A, "send_key": SK_A, "sg_event_id": "e1"},
        "not an object",
        {"event": "bounce", "timestamp": True, "email": " ", "type": "blocked"},
    ]
    events, rejected = parse_events(
        [_req(1, "events", json.dumps(batch).encode()), _req(2, "events", b"{not json")]
    )
    assert list(events["item"]) == [0, 2]
    assert events.loc[0, "email_sha256"] == email_hash(ADDR_A)
    assert pd.isna(events.loc[1, "timestamp"])  # a boolean is not a timestamp
    assert pd.isna(events.loc[1, "email_sha256"])  # a blank address has no hash
    assert events.loc[1, "reason"] == "blocked"
    assert rejected.items == [(1, "events", 1, "event is not an object")]
    assert rejected.requests == {2: "malformed JSON: JSONDecodeError"}


def test_parse_replies_and_clicks() -> None:
    body, headers = _multipart(
        {"from": f"Ann <{ADDR_A}>", "to": "r@example.org", "subject": "Re", "text": "stop"}
    )
    parsed, rejected = parse_replies([_req(1, "inbound", body, headers=headers), _req(2, "inbound", b"x")])
    assert [(r.id, reply.sender_email, reply.is_stop) for r, reply in parsed] == [(1, ADDR_A, True)]
    assert rejected.requests == {2: "not multipart/form-data"}
    tok = sign_token(SK_A, SECRET)
    clicks, refused = parse_clicks(
        [
            _req(3, "unsubscribe", path=f"/u/{tok}"),
            _req(4, "rating", path=f"/r/{tok}/4"),
            _req(5, "rating", path=f"/r/{tok}/9"),
            _req(6, "unsubscribe", path="/u/sk_forged.0000"),
        ],
        SECRET,
    )
    assert [(c.raw_id, c.kind, c.send_key, c.score) for c in clicks] == [
        (3, "unsubscribe", SK_A, None),
        (4, "rating", SK_A, 4),
    ]
    assert refused.requests == {5: "invalid score", 6: "invalid token"}


# ------------------------------------------------------------------ validate
def test_validate_events_quarantines_items_and_replies_whole_requests() -> None:
    events = pd.DataFrame({"raw_id": [1, 1, 2], "item": [0, 1, 0], "event": ["open", None, "click"]})
    ok, rejected = validate_events(events, _result([True, False, True], "event_not_null"))
    assert list(ok["item"]) == [0, 0]
    assert rejected.items == [(1, "events", 1, "invalid: event_not_null")]
    replies = pd.DataFrame({"raw_id": [7, 8], "reply_id": ["r1", "r2"]})
    kept, refused = validate_replies(replies, _result([False, True], "subject_len"))
    assert list(kept["reply_id"]) == ["r2"]
    assert refused.requests == {7: "invalid reply: subject_len"}


def test_the_email_events_suite_masks_rows_without_gx(settings) -> None:
    events, _ = parse_events(
        [
            _req(
                1,
                "events",
                json.dumps(
                    [{"event": "open", "timestamp": 1_772_000_000, "email": ADDR_A}, {"timestamp": 1}]
                ).encode(),
            )
        ]
    )
    result = check_frame(events, "email_events", settings, AT, use_gx=False)
    assert list(result.valid) == [True, False]
    assert result.reasons.iloc[1] == "expect_column_values_to_not_be_null(event)"
    assert result.gx_success is None


# ------------------------------------------------------------------ attribute
def test_attribute_events_by_send_key_else_message_id() -> None:
    events = pd.DataFrame(
        {
            "raw_id": [1, 1, 1],
            "item": [0, 1, 2],
            "event": ["open", "delivered", "open"],
            "timestamp": pd.array([100, 200, 300], dtype="Int64"),
            "email_sha256": [email_hash(ADDR_A), email_hash(ADDR_B), email_hash("c@example.com")],
            "send_key": [SK_A, None, None],
            "sg_event_id": ["e1", "", None],
            "sg_message_id": [None, "msgA.filter0001.1", "msgZ.filter0001.0"],
            "reason": None,
            "url": None,
        }
    )
    out = attribute_events(events, _index(), AT)
    assert list(out["send_key"].fillna("-")) == [SK_A, SK_B, "-"]
    assert list(out["customer_id"].fillna("-")) == ["C1", "C2", "-"]
    assert pd.isna(out["sg_event_id"].iloc[1])  # an empty vendor id is no id
    assert out["event_ts"].iloc[0] == pd.Timestamp(100, unit="s")
    assert (out["ingested_at"] == AT).all()
    assert out["dedupe_key"].nunique() == 3


def test_attribute_replies_checks_the_sender_and_keeps_stop_requests() -> None:
    fields = inbound_form(
        {"from": ADDR_B, "subject": "Re: x", "text": "please stop", "send_key": SK_A}, None, "r@ex.org"
    )
    body, headers = _multipart(fields)
    parsed, _ = parse_replies([_req(1, "inbound", body, headers=headers)])
    replies, stops = attribute_replies(parsed, _index(), AT)
    assert list(replies.columns) == REPLY_COLUMNS
    row = replies.iloc[0]
    assert row["send_key"] == SK_A  # the plus tag of the reply address
    assert not row["sender_matches_send"]
    assert row["customer_id"] is None  # someone else answered: not attributed to the customer
    assert stops == [
        {
            "email_sha256": email_hash(ADDR_B),
            "customer_id": None,
            "reason": "reply_stop",
            "source": "inbound_reply",
        }
    ]


def test_attribute_clicks_ratings_unsubscribes_and_waiting() -> None:
    unknown = send_key("C9", "save_at_risk", "2026-03-01")
    clicks, _ = parse_clicks(
        [
            _req(1, "rating", path=f"/r/{sign_token(SK_A, SECRET)}/2"),
            _req(2, "unsubscribe", path=f"/u/{sign_token(SK_B, SECRET)}"),
            _req(3, "unsubscribe", path=f"/u/{sign_token(unknown, SECRET)}"),
        ],
        SECRET,
    )
    found = attribute_clicks(clicks, _index(), {}.get, AT)
    assert list(found.ratings.columns) == RATING_COLUMNS
    assert found.ratings[["send_key", "customer_id", "score"]].values.tolist() == [[SK_A, "C1", 2]]
    assert found.unsubscribes == [
        {
            "email_sha256": email_hash(ADDR_B),
            "customer_id": "C2",
            "reason": "unsubscribe",
            "source": "one_click",
        }
    ]
    assert found.waiting == {3}
    later = attribute_clicks(clicks, _index(), {unknown: "h9"}.get, AT)
    assert later.waiting == set()
    assert later.unsubscribes[-1]["email_sha256"] == "h9"


# ------------------------------------------------------------------ dedupe
def test_dedupe_events_on_content_key_then_vendor_id() -> None:
    rows = pd.DataFrame(
        {
            "raw_id": [2, 1, 1, 3],
            "item": [0, 0, 1, 0],
            "dedupe_key": ["k1", "k1", "k2", "k3"],
            "sg_event_id": ["e1", "e1", "e2", "e2"],  # k3 is a retry of k2 with another timestamp
        }
    ).reindex(columns=[*EVENT_COLUMNS, "item"])
    out = dedupe_events(rows)
    assert list(out.columns) == EVENT_COLUMNS
    assert out[["raw_id", "dedupe_key", "sg_event_id"]].values.tolist() == [[1, "k1", "e1"], [1, "k2", "e2"]]
    assert list(dedupe_replies(pd.DataFrame({"reply_id": ["r", "r", "s"]}))["reply_id"]) == ["r", "s"]
    ratings = pd.DataFrame({"send_key": ["a", "a"], "score": [1, 5], "rated_at": [AT, AT.replace(hour=13)]})
    assert latest_ratings(ratings)["score"].tolist() == [5]


# ------------------------------------------------------------------ suppressions and quarantine
def test_suppressions_from_events_replies_and_clicks_once_per_address_and_reason() -> None:
    events = pd.DataFrame(
        {"event": ["open", "bounce", "unsubscribe", "dropped"], "email_sha256": ["h1", "h1", "h2", ""]}
    ).assign(customer_id=["C1", "C1", None, "C3"])
    from_events = event_suppressions(events)
    assert [(s["email_sha256"], s["reason"]) for s in from_events] == [
        ("h1", "bounce"),
        ("h2", "unsubscribe"),
    ]
    click = {"email_sha256": "h2", "customer_id": "C2", "reason": "unsubscribe", "source": "one_click"}
    merged = derive_suppressions(from_events, [], [click])
    assert [(s["email_sha256"], s["reason"], s["customer_id"]) for s in merged] == [
        ("h1", "bounce", "C1"),
        ("h2", "unsubscribe", "C2"),
    ]


def test_quarantine_rows_items_then_requests() -> None:
    rejected = merge_rejected(
        Rejected(items=[(1, "events", 3, "x" * 600)]), Rejected(requests={2: "invalid token"})
    )
    q = quarantine_rows(rejected, AT)
    assert q[["raw_id", "kind", "item"]].values.tolist() == [[1, "events", 3], [2, "request", -1]]
    assert len(q["reason"].iloc[0]) == 500
    assert quarantine_rows(Rejected(), AT).empty
