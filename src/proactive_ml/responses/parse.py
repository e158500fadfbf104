"""Parse step of the responses flow: stored receiver requests -> rows, or a quarantine reason (pure, never raises).

In: :class:`~proactive_ml.responses.store.RawRequest` bodies (webhook JSON arrays, Inbound Parse multipart posts,
one-click unsubscribe and rating links). Out: event rows (address hashed, no PII), :class:`InboundReply` objects,
:class:`Click` objects, and what was refused - item-level quarantines and whole requests with their reason.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.policy import compat32
from typing import Any

import pandas as pd

from proactive_ml.identity import email_hash, verify_token
from proactive_ml.responses.store import RawRequest

SEND_KEY_RE = re.compile(r"sk_[0-9a-f]{32}")
EMAIL_RE = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
STOP_RE = re.compile(
    r"\b(stop|unsubscribe|opt[\s-]?out|remove me|take me off|do not (e-?mail|contact)|don'?t (e-?mail|contact)"
    r"|no more e-?mails?)\b",
    re.IGNORECASE,
)
AUTO_SUBJECT_RE = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto(matic)?[\s-]?reply|autoreply|auto[\s-]?response|"
    r"away from (the )?office|on vacation|abwesenheitsnotiz|r[ée]ponse automatique)",
    re.IGNORECASE,
)
QUOTE_START_RE = re.compile(r"^(>|On .{0,200}wrote:\s*$|-----\s*Original Message|From:\s)", re.IGNORECASE)
MAX_TEXT = 100_000
MAX_EVENT_TIME = (
    253_402_300_799  # 9999-12-31T23:59:59Z: any later "Unix time" is not a time any table can hold
)
MAX_SUBJECT = 998
RATING_SCORES = {"1", "2", "3", "4", "5"}
EVENT_FIELDS = [
    "raw_id",
    "item",
    "event",
    "timestamp",
    "email_sha256",
    "send_key",
    "sg_event_id",
    "sg_message_id",
    "reason",
    "url",
]


@dataclass
class Rejected:
    """What a step refused: item quarantines ``(raw_id, kind, item, reason)`` and whole requests (id -> reason)."""

    items: list[tuple[int, str, int, str]] = field(default_factory=list)
    requests: dict[int, str] = field(default_factory=dict)


# ------------------------------------------------------------------ event webhook batches
def no_nul(text: str) -> str:
    """The text with every NUL replaced by U+FFFD: no PostgreSQL text column can hold a NUL."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _text(v: Any, limit: int) -> str | None:
    if v is None or isinstance(v, (dict, list)):
        return None
    return no_nul(str(v)[:limit])


def timestamp_problem(ts: Any) -> str | None:
    """Why an event's ``timestamp`` number can never be stored (None when it can, or when it is no number at all).

    A missing or non-numeric timestamp is left to the suite (``expect_column_values_to_not_be_null``); a number
    that is not finite or not a second between 1970 and 9999 (``1e20``, ``2**63``) is refused here, because no
    integer or timestamp column can hold it.
    """
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        return None
    if isinstance(ts, float) and not math.isfinite(ts):
        return "timestamp is not a finite number"
    if not 0 <= ts <= MAX_EVENT_TIME:
        return f"timestamp out of range (not a Unix time in seconds, 1970..9999): {str(ts)[:30]}"
    return None


def _event_row(raw_id: int, i: int, ev: dict[str, Any]) -> dict[str, Any]:
    addr = ev.get("email")
    ts = ev.get("timestamp")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or timestamp_problem(ts):
        ts = None
    return {
        "raw_id": raw_id,
        "item": i,
        "event": _text(ev.get("event"), 50),
        "timestamp": int(ts) if ts is not None else None,
        "email_sha256": email_hash(addr) if isinstance(addr, str) and addr.strip() else None,
        "send_key": _text(ev.get("send_key"), 100),
        "sg_event_id": _text(ev.get("sg_event_id"), 1000),
        "sg_message_id": _text(ev.get("sg_message_id"), 1000),
        "reason": _text(ev.get("reason") or ev.get("type"), 500),
        "url": _text(ev.get("url"), 5000),
    }


def parse_event_batch(raw_id: int, body: bytes) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """One stored webhook body -> event rows (no PII: email hashed) and ``(item, reason)`` quarantines.

    An item whose timestamp no table can hold (:func:`timestamp_problem`) is quarantined with that reason.
    """
    try:
        items = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return [], [(-1, f"malformed JSON: {type(exc).__name__}")]
    if not isinstance(items, list):
        return [], [(-1, "not a JSON array")]
    rows, bad = [], []
    for i, ev in enumerate(items):
        if not isinstance(ev, dict):
            bad.append((i, "event is not an object"))
        elif problem := timestamp_problem(ev.get("timestamp")):
            bad.append((i, problem))
        else:
            rows.append(_event_row(raw_id, i, ev))
    return rows, bad


def parse_events(requests: Iterable[RawRequest]) -> tuple[pd.DataFrame, Rejected]:
    """Every stored event batch -> one frame of event rows (``EVENT_FIELDS``) and what was refused.

    A request the parser fails on for any reason is quarantined whole (``unparseable: <error type>``).
    """
    rows: list[dict[str, Any]] = []
    rejected = Rejected()
    for r in requests:
        try:
            parsed, bad = parse_event_batch(r.id, r.body)
        except Exception as exc:  # one stored request must never stop the flow: quarantine it, go on
            parsed, bad = [], [(-1, f"unparseable: {type(exc).__name__}")]
        rows.extend(parsed)
        for item, reason in bad:
            if item < 0:
                rejected.requests[r.id] = reason
            else:
                rejected.items.append((r.id, "events", item, reason))
    events = pd.DataFrame(rows, columns=EVENT_FIELDS)
    events["timestamp"] = events["timestamp"].astype("Int64")
    return events, rejected


# ------------------------------------------------------------------ Inbound Parse replies
@dataclass
class InboundReply:
    """One parsed Inbound Parse post (no raw address kept: only its hash)."""

    reply_id: str
    sender_email: str
    to: str
    subject: str
    text: str
    headers: dict[str, str]
    spf: str | None
    is_auto: bool
    is_stop: bool
    notes: list[str] = field(default_factory=list)


def _decode(payload: bytes, charset: str | None, notes: list[str], name: str) -> str:
    cs = (charset or "utf-8").strip().strip('"') or "utf-8"
    try:
        return payload.decode(cs, errors="replace")
    except (LookupError, ValueError):
        notes.append(f"unknown charset {cs[:40]!r} for {name}")
        return payload.decode("utf-8", errors="replace")


class _Form:
    """The text fields of a multipart form, decoded with the charsets SendGrid declares per field."""

    def __init__(self, fields: dict[str, bytes]) -> None:
        self.fields = fields
        self.notes: list[str] = []
        try:
            charsets = json.loads(fields.get("charsets", b"{}").decode("utf-8", "replace"))
            self.charsets = charsets if isinstance(charsets, dict) else {}
        except ValueError:
            self.charsets = {}
            self.notes.append("bad charsets field")

    def get(self, name: str) -> str:
        """One field as text (NUL bytes replaced: no PostgreSQL text can hold them)."""
        cs = self.charsets.get(name)
        return no_nul(
            _decode(self.fields.get(name, b""), cs if isinstance(cs, str) else None, self.notes, name)
        )


class _RefusedError(ValueError):
    """A request the parser refuses; the message is the quarantine reason."""


def _form_fields(ctype: str, body: bytes) -> dict[str, bytes]:
    """The non-file form fields of a multipart/form-data body."""
    if "multipart/form-data" not in ctype.lower() or "boundary=" not in ctype.lower():
        raise _RefusedError("not multipart/form-data")
    if "\r" in ctype or "\n" in ctype:
        raise _RefusedError("bad content-type header")
    msg = BytesParser(policy=compat32).parsebytes(
        b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not msg.is_multipart():
        raise _RefusedError("no multipart parts")
    fields: dict[str, bytes] = {}
    for part in msg.get_payload():
        if not isinstance(part, Message):
            continue
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_param("filename", header="content-disposition"):
            continue  # attachments are not kept
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and name not in fields:
            fields[name] = payload
    if not fields:
        raise _RefusedError("no form fields")
    return fields


def _sender(form: _Form) -> str:
    """The sender's address (lower case)."""
    sender_field = form.get("from")
    if not sender_field:
        raise _RefusedError("missing sender")
    if any(c in sender_field for c in "\r\n\x00"):
        raise _RefusedError("CR/LF/NUL in sender")
    _, addr = email.utils.parseaddr(sender_field)
    addr = addr.strip().lower()
    if not EMAIL_RE.match(addr):
        raise _RefusedError("unparseable sender address")
    return addr


def _body_text(form: _Form) -> str:
    text = form.get("text")
    if not text and form.fields.get("html"):
        text = re.sub(r"<[^>]*>", " ", form.get("html"))
        form.notes.append("text from html")
    if len(text) > MAX_TEXT:
        form.notes.append(f"text truncated from {len(text)} chars")
        text = text[:MAX_TEXT]
    return text


def _parse_inbound(headers: dict[str, str], body: bytes) -> InboundReply:
    form = _Form(_form_fields(headers.get("content-type", ""), body))
    addr = _sender(form)
    header_block = HeaderParser(policy=compat32).parsestr(form.get("headers")[:200_000])
    hdrs = {k.lower(): str(v) for k, v in header_block.items()}
    subject = form.get("subject")
    text = _body_text(form)
    message_id = hdrs.get("message-id", "").strip()[:300]
    basis = message_id.encode() if message_id else body
    auto = is_auto_reply(hdrs, subject, text)
    return InboundReply(
        reply_id="rp_" + hashlib.sha256(basis).hexdigest()[:32],
        sender_email=addr,
        to=form.get("to")[:2000],
        subject=subject[: MAX_SUBJECT * 4],
        text=text,
        headers=hdrs,
        spf=(form.get("SPF") or None),
        is_auto=auto,
        is_stop=(not auto) and says_stop(subject, text),
        notes=form.notes,
    )


def parse_inbound(headers: dict[str, str], body: bytes) -> InboundReply | str:
    """Parse a stored Inbound Parse request; returns the reply or a quarantine reason (never raises)."""
    try:
        return _parse_inbound(headers, body)
    except _RefusedError as exc:
        return str(exc)
    except Exception as exc:  # hostile input must never crash the flow
        return f"unparseable: {type(exc).__name__}"


def parse_replies(requests: Iterable[RawRequest]) -> tuple[list[tuple[RawRequest, InboundReply]], Rejected]:
    """Every stored Inbound Parse request -> ``(request, reply)`` pairs and the requests refused."""
    parsed: list[tuple[RawRequest, InboundReply]] = []
    rejected = Rejected()
    for r in requests:
        reply = parse_inbound(r.headers, r.body)
        if isinstance(reply, str):
            rejected.requests[r.id] = reply
        else:
            parsed.append((r, reply))
    return parsed, rejected


def is_auto_reply(headers: dict[str, str], subject: str, text: str) -> bool:
    """Out-of-office and other automatic answers (RFC 3834 Auto-Submitted, X-Autoreply, Precedence, subject)."""
    auto_submitted = headers.get("auto-submitted", "").strip().lower()
    if auto_submitted and auto_submitted != "no":
        return True
    if any(h in headers for h in ("x-autoreply", "x-autorespond", "x-autoresponder")):
        return True
    if headers.get("precedence", "").strip().lower() in {"auto_reply", "bulk", "junk"}:
        return True
    if "oof" in headers.get("x-ms-exchange-inbox-rules-loop", "").lower():
        return True
    if AUTO_SUBJECT_RE.search(subject or ""):
        return True
    head = (text or "")[:300].lower()
    return "out of office" in head or "out of the office" in head or "automatic reply" in head


def fresh_text(text: str) -> str:
    """The part of a reply above the quoted original message."""
    lines = []
    for line in (text or "").splitlines():
        if QUOTE_START_RE.match(line.strip()):
            break
        lines.append(line)
    return "\n".join(lines)


def says_stop(subject: str, text: str) -> bool:
    """True when a (human) reply asks to stop or unsubscribe."""
    return bool(STOP_RE.search(subject or "") or STOP_RE.search(fresh_text(text)[:5000]))


# ------------------------------------------------------------------ one-click unsubscribes and ratings
@dataclass(frozen=True)
class Click:
    """A verified link click: a one-click unsubscribe (``score`` None) or a rating of a send."""

    raw_id: int
    kind: str  # unsubscribe | rating
    send_key: str
    score: int | None
    received_at: datetime


def parse_click(request: RawRequest, secret: str) -> Click | str:
    """A stored ``/u/<token>`` or ``/r/<token>/<score>`` request -> :class:`Click`, or a quarantine reason."""
    parts = request.path.strip("/").split("/")
    token = parts[1] if len(parts) > 1 else ""
    sk = verify_token(token, secret)
    if not sk or not sk.startswith("sk_"):
        return "invalid token"
    score = None
    if request.kind == "rating":
        if len(parts) <= 2 or parts[2] not in RATING_SCORES:
            return "invalid score"
        score = int(parts[2])
    return Click(request.id, request.kind, sk, score, request.received_at)


def parse_clicks(requests: Iterable[RawRequest], secret: str) -> tuple[list[Click], Rejected]:
    """Every stored unsubscribe/rating request -> verified clicks and the requests refused."""
    clicks: list[Click] = []
    rejected = Rejected()
    for r in requests:
        click = parse_click(r, secret)
        if isinstance(click, str):
            rejected.requests[r.id] = click
        else:
            clicks.append(click)
    return clicks, rejected
