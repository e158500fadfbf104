"""The responses flow: stored requests -> validated, deduplicated, attributed events, replies, ratings, suppressions.

:func:`process_responses` reads the raw requests the receiver stored and has not been processed yet, and:

1. parses event batches, Inbound Parse replies, one-click unsubscribes and ratings (pure parsers below; hostile
   input is quarantined with a reason, never raised);
2. validates events and replies with their GX suites (``expectations/email_events.json``, ``replies.json``);
3. dedupes events on ``sg_event_id`` *and* on (send key, event, timestamp) - ids change on retries and are missing
   on unsubscribe events - with unique constraints in the warehouse as the final guard;
4. attributes everything to its send (``send_key`` from ``custom_args``, else the ``X-Message-Id`` prefix of
   ``sg_message_id``, else - for replies - the plus tag of the reply address, ``In-Reply-To`` or the latest send to
   the sender);
5. updates the suppression list (unsubscribe, group_unsubscribe, bounce, spamreport, dropped, reply_stop);
6. marks the raw requests processed or quarantined. Rerunning adds nothing (idempotent).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.policy import compat32
from typing import Any

import numpy as np
import pandas as pd

from proactive_ml.identity import email_hash, verify_token
from proactive_ml.responses import store as fstore
from proactive_ml.responses import suppressions as suppression
from proactive_ml.warehouse import Warehouse

SUPPRESSING_EVENTS = {
    "unsubscribe": "unsubscribe",
    "group_unsubscribe": "group_unsubscribe",
    "bounce": "bounce",
    "spamreport": "spamreport",
    "dropped": "dropped",
}
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
ADVISORY_LOCK_KEY = 5_807_311_006  # PostgreSQL advisory lock serialising responses-flow writes
MAX_SUBJECT = 998
EVENT_COLUMNS = [
    "dedupe_key",
    "sg_event_id",
    "send_key",
    "customer_id",
    "playbook",
    "event",
    "event_ts",
    "email_sha256",
    "sg_message_id",
    "reason",
    "url",
    "raw_id",
    "ingested_at",
]
REPLY_COLUMNS = [
    "reply_id",
    "send_key",
    "customer_id",
    "playbook",
    "email_sha256",
    "sender_matches_send",
    "subject",
    "body_text",
    "is_auto",
    "is_stop",
    "spf",
    "received_at",
    "raw_id",
    "ingested_at",
]


# ------------------------------------------------------------------ pure parsers
def _text(v: Any, limit: int) -> str | None:
    if v is None or isinstance(v, (dict, list)):
        return None
    s = str(v)
    return s[:limit]


def parse_event_batch(raw_id: int, body: bytes) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """One stored webhook body -> event rows (no PII: email hashed) and ``(item, reason)`` quarantines."""
    try:
        items = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return [], [(-1, f"malformed JSON: {type(exc).__name__}")]
    if not isinstance(items, list):
        return [], [(-1, "not a JSON array")]
    rows, bad = [], []
    for i, ev in enumerate(items):
        if not isinstance(ev, dict):
            bad.append((i, "event is not an object"))
            continue
        addr = ev.get("email")
        ts = ev.get("timestamp")
        if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not np.isfinite(ts):
            ts = None
        rows.append(
            {
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
        )
    return rows, bad


def event_dedupe_key(send_ref: str, event: str, timestamp: int) -> str:
    """Content key of an event: (send, event type, timestamp) - stable across retries that change sg_event_id."""
    return hashlib.sha256(f"{send_ref}|{event}|{timestamp}".encode()).hexdigest()[:40]


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


def parse_inbound(headers: dict[str, str], body: bytes) -> InboundReply | str:
    """Parse a stored Inbound Parse request; returns the reply or a quarantine reason (never raises)."""
    try:
        return _parse_inbound(headers, body)
    except Exception as exc:  # hostile input must never crash the flow
        return f"unparseable: {type(exc).__name__}"


def _parse_inbound(headers: dict[str, str], body: bytes) -> InboundReply | str:
    ctype = headers.get("content-type", "")
    if "multipart/form-data" not in ctype.lower() or "boundary=" not in ctype.lower():
        return "not multipart/form-data"
    if "\r" in ctype or "\n" in ctype:
        return "bad content-type header"
    msg = BytesParser(policy=compat32).parsebytes(
        b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not msg.is_multipart():
        return "no multipart parts"
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
        return "no form fields"
    notes: list[str] = []
    try:
        charsets = json.loads(fields.get("charsets", b"{}").decode("utf-8", "replace"))
        if not isinstance(charsets, dict):
            charsets = {}
    except ValueError:
        charsets = {}
        notes.append("bad charsets field")

    def get(name: str) -> str:
        cs = charsets.get(name)
        return _decode(fields.get(name, b""), cs if isinstance(cs, str) else None, notes, name)

    sender_field = get("from")
    if not sender_field:
        return "missing sender"
    if any(c in sender_field for c in "\r\n\x00"):
        return "CR/LF/NUL in sender"
    _, addr = email.utils.parseaddr(sender_field)
    addr = addr.strip().lower()
    if not EMAIL_RE.match(addr):
        return "unparseable sender address"
    header_block = get("headers")
    hdrs = {
        k.lower(): str(v) for k, v in HeaderParser(policy=compat32).parsestr(header_block[:200_000]).items()
    }
    subject = get("subject")
    text = get("text")
    if not text and fields.get("html"):
        text = re.sub(r"<[^>]*>", " ", get("html"))
        notes.append("text from html")
    if len(text) > MAX_TEXT:
        notes.append(f"text truncated from {len(text)} chars")
        text = text[:MAX_TEXT]
    message_id = hdrs.get("message-id", "").strip()[:300]
    basis = message_id.encode() if message_id else body
    reply_id = "rp_" + hashlib.sha256(basis).hexdigest()[:32]
    auto = is_auto_reply(hdrs, subject, text)
    return InboundReply(
        reply_id=reply_id,
        sender_email=addr,
        to=get("to")[:2000],
        subject=subject[: MAX_SUBJECT * 4],
        text=text,
        headers=hdrs,
        spf=(get("SPF") or None),
        is_auto=auto,
        is_stop=(not auto) and says_stop(subject, text),
        notes=notes,
    )


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


def reply_send_key(reply: InboundReply, by_message_id: dict[str, str]) -> str | None:
    """The send a reply answers: plus tag of the reply address, else In-Reply-To/References message ids.

    ``by_message_id`` maps ``"<X-Message-Id>|<recipient email sha256>"`` to the send key (one SendGrid request,
    hence one message id, carries up to 1000 personalizations).
    """
    m = SEND_KEY_RE.search(reply.to or "")
    if m:
        return m.group(0)
    refs = " ".join([reply.headers.get("in-reply-to", ""), reply.headers.get("references", "")])
    for mid in re.findall(r"<([^<>\s]{1,300})>", refs):
        base = mid.split("@")[0].split(".")[0]
        hit = by_message_id.get(f"{base}|{email_hash(reply.sender_email)}")
        if hit:
            return hit
    return None


# ------------------------------------------------------------------ attribution helpers
@dataclass
class SendIndex:
    """Lookups from the outreach tables: send -> customer/playbook/email hash; message id -> send."""

    sends: pd.DataFrame
    by_message_id: dict[str, str]
    latest_by_email: dict[str, str]

    @classmethod
    def load(cls, wh: Warehouse) -> SendIndex:
        """Build the index from ``send_ledger``/``decisions``/``customers``."""
        df = fstore.send_lookup(wh)
        df = df.drop_duplicates("send_key").copy()
        df["email_sha256"] = df["email"].map(lambda e: email_hash(e) if isinstance(e, str) and e else None)
        df = df.drop(columns=["email"]).set_index("send_key", drop=False)
        mids = {
            f"{m}|{h}": k
            for k, m, h in zip(df["send_key"], df["message_id"], df["email_sha256"], strict=False)
            if isinstance(m, str) and m and h
        }
        latest = {}
        for k, h in zip(df["send_key"], df["email_sha256"], strict=False):
            if h:
                latest[h] = k  # the ledger is ordered by insertion; later sends win
        return cls(df, mids, latest)

    def customer(self, send_key: str | None) -> tuple[Any, Any, Any]:
        """(customer_id, playbook, email_sha256) of a send, or Nones."""
        if send_key and send_key in self.sends.index:
            r = self.sends.loc[send_key]
            return r["customer_id"], r["playbook"], r["email_sha256"]
        return None, None, None


def suppress_send(wh: Warehouse, send_key: str, *, reason: str, source: str, at: datetime) -> bool:
    """Suppress the recipient of ``send_key``; False when the send or its address is unknown."""
    idx = SendIndex.load(wh)
    cid, _, h = idx.customer(send_key)
    if not h:
        return False
    suppression.add_suppression(wh, email_sha256=h, customer_id=cid, reason=reason, source=source, at=at)
    return True


# ------------------------------------------------------------------ the flow
def _q(
    quarantine: list[dict[str, Any]], raw_id: int, kind: str, item: int, reason: str, at: datetime
) -> None:
    quarantine.append(
        {"raw_id": raw_id, "kind": kind, "item": item, "reason": reason[:500], "created_at": at}
    )


def process_responses(
    wh: Warehouse,
    settings: Any,
    as_of: datetime,
    *,
    store: fstore.RawStore | None = None,
    limit: int = 200_000,
    use_gx: bool = True,
) -> dict[str, Any]:
    """Turn stored receiver requests into email_events/replies/ratings rows and suppressions (idempotent).

    ``as_of`` is the processing time recorded on new rows and suppressions.
    """
    from proactive_ml.responses.checks import check_frame

    as_of = pd.Timestamp(as_of).to_pydatetime().replace(tzinfo=None)
    raw = store or fstore.RawStore(fstore.raw_store_path(settings))
    pending = raw.pending(limit)
    summary: dict[str, Any] = {
        "requests": len(pending),
        "events_received": 0,
        "events_new": 0,
        "events_duplicate": 0,
        "events_quarantined": 0,
        "replies_new": 0,
        "replies_quarantined": 0,
        "auto_replies": 0,
        "ratings": 0,
        "unsubscribes": 0,
        "suppressions_added": 0,
        "requests_quarantined": 0,
        "gx": {},
    }
    if not pending:
        return summary
    idx = SendIndex.load(wh)
    secret = settings.signing_secret.get_secret_value()
    quarantine: list[dict[str, Any]] = []
    bad_requests: dict[int, str] = {}
    supp: list[dict[str, Any]] = []  # email_sha256, customer_id, reason, source

    # ---- events
    ev_rows: list[dict[str, Any]] = []
    n_bad_items = 0
    for r in (p for p in pending if p.kind == "events"):
        rows, bad = parse_event_batch(r.id, r.body)
        n_bad_items += sum(1 for item, _ in bad if item >= 0)
        ev_rows.extend(rows)
        for item, reason in bad:
            if item < 0:
                bad_requests[r.id] = reason
            else:
                _q(quarantine, r.id, "events", item, reason, as_of)
    events = pd.DataFrame(
        ev_rows,
        columns=[
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
        ],
    )
    summary["events_received"] = len(events)
    new_events = pd.DataFrame(columns=EVENT_COLUMNS)
    if len(events):
        events["timestamp"] = events["timestamp"].astype("Int64")
        res = check_frame(events, "email_events", settings, as_of, use_gx=use_gx)
        summary["gx"]["email_events"] = {"gx_success": res.gx_success, "failures": res.failures}
        for i in np.flatnonzero(~res.valid.to_numpy()):
            row = events.iloc[i]
            _q(
                quarantine,
                int(row["raw_id"]),
                "events",
                int(row["item"]),
                f"invalid: {res.reasons.iloc[i]}",
                as_of,
            )
        ok = events[res.valid.to_numpy()].copy()
        summary["events_quarantined"] = int((~res.valid).sum()) + n_bad_items
        # attribution: custom_args send_key, else the X-Message-Id prefix of sg_message_id
        prefix = ok["sg_message_id"].map(lambda m: m.split(".")[0] if isinstance(m, str) else None)
        by_mid = pd.Series(
            [
                idx.by_message_id.get(f"{m}|{h}") if m else None
                for m, h in zip(prefix, ok["email_sha256"], strict=True)
            ],
            index=ok.index,
            dtype=object,
        )
        ok["send_key"] = ok["send_key"].where(ok["send_key"].notna(), by_mid)
        info = idx.sends.reindex(ok["send_key"].astype(object).where(ok["send_key"].notna(), ""))
        ok["customer_id"] = (
            info["customer_id"].astype(object).where(info["customer_id"].notna(), None).to_numpy()
        )
        ok["playbook"] = info["playbook"].astype(object).where(info["playbook"].notna(), None).to_numpy()
        ref = ok["send_key"].where(
            ok["send_key"].notna(), "msg:" + prefix.fillna("") + "|" + ok["email_sha256"]
        )
        ok["dedupe_key"] = [
            event_dedupe_key(a, b, int(c)) for a, b, c in zip(ref, ok["event"], ok["timestamp"], strict=True)
        ]
        ok["event_ts"] = pd.to_datetime(ok["timestamp"].astype("int64"), unit="s")
        ok["ingested_at"] = as_of
        ok["sg_event_id"] = ok["sg_event_id"].where(
            ok["sg_event_id"].notna() & (ok["sg_event_id"] != ""), None
        )
        # dedupe inside the batch: content key first, then the vendor id (ids change on retries)
        ok = ok.sort_values(["raw_id", "item"]).drop_duplicates("dedupe_key")
        has_id = ok["sg_event_id"].notna()
        ok = pd.concat([ok[has_id].drop_duplicates("sg_event_id"), ok[~has_id]]).sort_values(
            ["raw_id", "item"]
        )
        new_events = ok[EVENT_COLUMNS]
        for e in new_events.itertuples(index=False):
            if e.event in SUPPRESSING_EVENTS and e.email_sha256:
                supp.append(
                    {
                        "email_sha256": e.email_sha256,
                        "customer_id": e.customer_id,
                        "reason": SUPPRESSING_EVENTS[e.event],
                        "source": "event_webhook",
                    }
                )

    # ---- inbound replies
    reply_rows: list[dict[str, Any]] = []
    for r in (p for p in pending if p.kind == "inbound"):
        parsed = parse_inbound(r.headers, r.body)
        if isinstance(parsed, str):
            bad_requests[r.id] = parsed
            continue
        sk = reply_send_key(parsed, idx.by_message_id)
        h = email_hash(parsed.sender_email)
        if sk is None:
            sk = idx.latest_by_email.get(h)
        cid, playbook, send_hash = idx.customer(sk)
        matches = bool(send_hash) and send_hash == h
        reply_rows.append(
            {
                "reply_id": parsed.reply_id,
                "send_key": sk,
                "customer_id": cid if matches else None,
                "playbook": playbook,
                "email_sha256": h,
                "sender_matches_send": matches,
                "subject": parsed.subject,
                "body_text": parsed.text,
                "is_auto": parsed.is_auto,
                "is_stop": parsed.is_stop,
                "spf": parsed.spf,
                "received_at": r.received_at,
                "raw_id": r.id,
                "ingested_at": as_of,
            }
        )
        if parsed.is_stop:  # a stop request is honoured even when the reply itself is quarantined below
            supp.append(
                {
                    "email_sha256": h,
                    "customer_id": cid if matches else None,
                    "reason": "reply_stop",
                    "source": "inbound_reply",
                }
            )
    replies = pd.DataFrame(reply_rows, columns=REPLY_COLUMNS)
    if len(replies):
        res = check_frame(replies, "replies", settings, as_of, use_gx=use_gx)
        summary["gx"]["replies"] = {"gx_success": res.gx_success, "failures": res.failures}
        for i in np.flatnonzero(~res.valid.to_numpy()):
            bad_requests[int(replies.iloc[i]["raw_id"])] = f"invalid reply: {res.reasons.iloc[i]}"
        replies = replies[res.valid.to_numpy()].drop_duplicates("reply_id")
        summary["replies_quarantined"] = int((~res.valid).sum())
        summary["auto_replies"] = int(replies["is_auto"].sum())

    # ---- one-click unsubscribes and ratings
    rating_rows: list[dict[str, Any]] = []
    waiting: set[int] = set()
    for r in (p for p in pending if p.kind in ("unsubscribe", "rating")):
        parts = r.path.strip("/").split("/")
        token = parts[1] if len(parts) > 1 else ""
        sk = verify_token(token, secret)
        if not sk or not sk.startswith("sk_"):
            bad_requests[r.id] = "invalid token"
            continue
        cid, playbook, rh = idx.customer(sk)
        if r.kind == "unsubscribe":
            rh = rh or _recipient_hash_from_events(wh, new_events, str(sk))
            if not rh:  # never drop an unsubscribe: keep it pending until the send's address is known
                waiting.add(r.id)
                continue
            supp.append(
                {"email_sha256": rh, "customer_id": cid, "reason": "unsubscribe", "source": "one_click"}
            )
            summary["unsubscribes"] += 1
        else:
            score = int(parts[2]) if len(parts) > 2 and parts[2] in {"1", "2", "3", "4", "5"} else None
            if score is None:
                bad_requests[r.id] = "invalid score"
                continue
            rating_rows.append(
                {
                    "send_key": sk,
                    "customer_id": cid,
                    "playbook": playbook,
                    "score": score,
                    "rated_at": r.received_at,
                    "raw_id": r.id,
                    "ingested_at": as_of,
                }
            )
    ratings = pd.DataFrame(
        rating_rows,
        columns=["send_key", "customer_id", "playbook", "score", "rated_at", "raw_id", "ingested_at"],
    )
    ratings = ratings.sort_values("rated_at").drop_duplicates("send_key", keep="last")

    # ---- write everything in one warehouse transaction, then mark the raw requests
    for rid, reason in bad_requests.items():
        _q(quarantine, rid, "request", -1, reason, as_of)
    with wh.transaction():
        _lock(wh)  # overlapping runs (Prefect does that) take turns; dedupe then sees the other's rows
        summary["events_new"] = _insert_new_events(wh, new_events)
        summary["events_duplicate"] = (
            summary["events_received"] - summary["events_quarantined"] - summary["events_new"]
        )
        summary["replies_new"] = _insert_ignore(wh, "replies", replies, REPLY_COLUMNS, "reply_id")
        summary["ratings"] = _upsert_ratings(wh, ratings)
        before = wh.row_count("suppressions")
        for s in {(d["email_sha256"], d["reason"]): d for d in supp}.values():
            suppression.add_suppression(wh, at=as_of, **s)
        summary["suppressions_added"] = wh.row_count("suppressions") - before
        if quarantine:
            q = pd.DataFrame(quarantine).drop_duplicates(["raw_id", "item"])
            _insert_ignore(wh, "response_quarantine", q, list(q.columns), ["raw_id", "item"])
    ok_ids = [p.id for p in pending if p.id not in bad_requests and p.id not in waiting]
    summary["unsubscribes_waiting"] = len(waiting)
    raw.mark(ok_ids, "processed", as_of)
    for rid, reason in bad_requests.items():
        raw.mark([rid], "quarantined", as_of, note=reason[:500])
    summary["requests_quarantined"] = len(bad_requests)
    return summary


def _lock(wh: Warehouse) -> None:
    """Serialise responses-flow writers on PostgreSQL (transaction-scoped advisory lock)."""
    if wh.backend == "postgres":
        wh.execute("SELECT pg_advisory_xact_lock(:k)", {"k": ADVISORY_LOCK_KEY})


def _recipient_hash_from_events(wh: Warehouse, new_events: pd.DataFrame, send_key: str) -> str | None:
    """The recipient's address hash as seen on the send's events (when the customers table cannot tell)."""
    hit = new_events.loc[new_events["send_key"] == send_key, "email_sha256"].dropna()
    if len(hit):
        return str(hit.iloc[0])
    found = wh.scalar("SELECT max(email_sha256) FROM email_events WHERE send_key = :k", {"k": send_key})
    return str(found) if found else None


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns as strings, so an all-null column still stages as TEXT (not DuckDB's NULL type)."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object and not out[c].map(lambda v: isinstance(v, (bool, np.bool_))).any():
            out[c] = out[c].astype("string")
    return out


def _insert_new_events(wh: Warehouse, df: pd.DataFrame) -> int:
    """Insert events whose dedupe key and sg_event_id are both unseen; returns the number inserted."""
    if df.empty:
        return 0
    frame = _typed(df)
    with wh.staged(frame, "_fb_events") as t:
        fresh = wh.query(
            f"SELECT n.dedupe_key FROM {t} n WHERE NOT EXISTS (SELECT 1 FROM email_events e WHERE "
            f"e.dedupe_key = n.dedupe_key) AND (n.sg_event_id IS NULL OR NOT EXISTS (SELECT 1 FROM email_events e "
            f"WHERE e.sg_event_id = n.sg_event_id))"
        )
    keep = frame[frame["dedupe_key"].isin(set(fresh["dedupe_key"]))]
    if keep.empty:
        return 0
    wh.insert_frame("email_events", keep, EVENT_COLUMNS)
    return len(keep)


def _insert_ignore(wh: Warehouse, table: str, df: pd.DataFrame, cols: list[str], key: str | list[str]) -> int:
    """Insert rows whose key is not in ``table`` yet."""
    if df.empty:
        return 0
    keys = [key] if isinstance(key, str) else key
    with wh.staged(_typed(df[cols]), "_fb_rows") as t:
        cond = " AND ".join(f"x.{k} = n.{k}" for k in keys)
        n = wh.scalar(f"SELECT count(*) FROM {t} n WHERE NOT EXISTS (SELECT 1 FROM {table} x WHERE {cond})")
        wh.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join('n.' + c for c in cols)} FROM {t} n "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} x WHERE {cond})"
        )
    return int(n or 0)


def _upsert_ratings(wh: Warehouse, df: pd.DataFrame) -> int:
    """One rating per send: the latest answer wins (a person may correct a click)."""
    if df.empty:
        return 0
    cols = ["send_key", "customer_id", "playbook", "score", "rated_at", "raw_id", "ingested_at"]
    frame = _typed(df[cols])
    frame["score"] = frame["score"].astype("int64")
    with wh.staged(frame, "_fb_ratings") as t:
        wh.execute(
            f"DELETE FROM ratings WHERE send_key IN (SELECT n.send_key FROM {t} n JOIN ratings r "
            f"ON r.send_key = n.send_key WHERE n.rated_at >= r.rated_at)"
        )
        wh.execute(
            f"INSERT INTO ratings ({', '.join(cols)}) SELECT {', '.join('n.' + c for c in cols)} FROM {t} n "
            f"WHERE NOT EXISTS (SELECT 1 FROM ratings r WHERE r.send_key = n.send_key)"
        )
    return len(frame)


def response_rates(wh: Warehouse) -> pd.DataFrame:
    """Per playbook: sends, and the share with a delivery, open, click, reply, unsubscribe; CSAT mean and count."""
    df = wh.query(
        """
        WITH s AS (SELECT send_key, playbook FROM send_ledger WHERE state = 'accepted'),
        e AS (SELECT send_key,
                max(CASE WHEN event = 'delivered' THEN 1 ELSE 0 END) AS delivered,
                max(CASE WHEN event = 'open' THEN 1 ELSE 0 END) AS opened,
                max(CASE WHEN event = 'click' THEN 1 ELSE 0 END) AS clicked,
                max(CASE WHEN event IN ('unsubscribe', 'group_unsubscribe') THEN 1 ELSE 0 END) AS unsub
              FROM email_events WHERE send_key IS NOT NULL GROUP BY send_key),
        r AS (SELECT DISTINCT send_key FROM replies WHERE NOT is_auto AND send_key IS NOT NULL)
        SELECT s.playbook, count(*) AS sent,
          avg(coalesce(e.delivered, 0)) AS delivered, avg(coalesce(e.opened, 0)) AS open,
          avg(coalesce(e.clicked, 0)) AS click,
          avg(CASE WHEN r.send_key IS NULL THEN 0 ELSE 1 END) AS reply,
          avg(coalesce(e.unsub, 0)) AS unsubscribe,
          avg(rt.score) AS csat_mean, count(rt.score) AS ratings
        FROM s LEFT JOIN e ON e.send_key = s.send_key LEFT JOIN r ON r.send_key = s.send_key
        LEFT JOIN ratings rt ON rt.send_key = s.send_key
        GROUP BY s.playbook ORDER BY s.playbook
        """
    )
    return df
