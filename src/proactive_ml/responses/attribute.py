"""Attribute step of the responses flow: every parsed event, reply and click -> the send it answers (pure).

In: parsed rows and a :class:`SendIndex` (send -> customer/playbook/address hash, message id -> send) built from the
outreach tables. Out: rows in the shape of the warehouse tables ``email_events``, ``replies`` and ``ratings``, and
the suppressions a reply or an unsubscribe click asks for.

A send is found from ``send_key`` (SendGrid ``custom_args``), else the ``X-Message-Id`` prefix of
``sg_message_id``; a reply from the plus tag of its reply address, ``In-Reply-To``/``References``, else the latest
send to the sender.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from proactive_ml.identity import email_hash
from proactive_ml.responses import store as fstore
from proactive_ml.responses.parse import SEND_KEY_RE, Click, InboundReply
from proactive_ml.responses.store import RawRequest
from proactive_ml.warehouse import Warehouse

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
RATING_COLUMNS = ["send_key", "customer_id", "playbook", "score", "rated_at", "raw_id", "ingested_at"]

Suppression = dict[str, Any]  # email_sha256, customer_id, reason, source


@dataclass
class SendIndex:
    """Lookups from the outreach tables: send -> customer/playbook/email hash; message id -> send."""

    sends: pd.DataFrame
    by_message_id: dict[str, str]
    latest_by_email: dict[str, str]

    @classmethod
    def from_lookup(cls, lookup: pd.DataFrame) -> SendIndex:
        """Build the index from rows of send_key, customer_id, playbook, email, message_id (ledger order)."""
        df = lookup.drop_duplicates("send_key").copy()
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

    @classmethod
    def load(cls, wh: Warehouse) -> SendIndex:
        """Build the index from ``send_ledger``/``decisions``/``customers``."""
        return cls.from_lookup(fstore.send_lookup(wh))

    def customer(self, send_key: str | None) -> tuple[Any, Any, Any]:
        """(customer_id, playbook, email_sha256) of a send, or Nones."""
        if send_key and send_key in self.sends.index:
            r = self.sends.loc[send_key]
            return r["customer_id"], r["playbook"], r["email_sha256"]
        return None, None, None


# ------------------------------------------------------------------ events
def event_dedupe_key(send_ref: str, event: str, timestamp: int) -> str:
    """Content key of an event: (send, event type, timestamp) - stable across retries that change sg_event_id."""
    return hashlib.sha256(f"{send_ref}|{event}|{timestamp}".encode()).hexdigest()[:40]


def _nullable(s: pd.Series) -> pd.Series:
    return s.astype(object).where(s.notna(), None)


def attribute_events(events: pd.DataFrame, idx: SendIndex, as_of: datetime) -> pd.DataFrame:
    """Valid event rows -> their send, customer and playbook, content key, event time and ingest time."""
    ok = events.copy()
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
    ok["customer_id"] = _nullable(info["customer_id"]).to_numpy()
    ok["playbook"] = _nullable(info["playbook"]).to_numpy()
    ref = ok["send_key"].where(ok["send_key"].notna(), "msg:" + prefix.fillna("") + "|" + ok["email_sha256"])
    ok["dedupe_key"] = [
        event_dedupe_key(a, b, int(c)) for a, b, c in zip(ref, ok["event"], ok["timestamp"], strict=True)
    ]
    ok["event_ts"] = pd.to_datetime(ok["timestamp"].astype("int64"), unit="s")
    ok["ingested_at"] = as_of
    ok["sg_event_id"] = ok["sg_event_id"].where(ok["sg_event_id"].notna() & (ok["sg_event_id"] != ""), None)
    return ok


# ------------------------------------------------------------------ replies
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


def _reply_row(request: RawRequest, reply: InboundReply, idx: SendIndex, as_of: datetime) -> dict[str, Any]:
    h = email_hash(reply.sender_email)
    sk = reply_send_key(reply, idx.by_message_id) or idx.latest_by_email.get(h)
    cid, playbook, send_hash = idx.customer(sk)
    matches = bool(send_hash) and send_hash == h
    return {
        "reply_id": reply.reply_id,
        "send_key": sk,
        "customer_id": cid if matches else None,
        "playbook": playbook,
        "email_sha256": h,
        "sender_matches_send": matches,
        "subject": reply.subject,
        "body_text": reply.text,
        "is_auto": reply.is_auto,
        "is_stop": reply.is_stop,
        "spf": reply.spf,
        "received_at": request.received_at,
        "raw_id": request.id,
        "ingested_at": as_of,
    }


def attribute_replies(
    parsed: list[tuple[RawRequest, InboundReply]], idx: SendIndex, as_of: datetime
) -> tuple[pd.DataFrame, list[Suppression]]:
    """Parsed replies -> reply rows (``REPLY_COLUMNS``) and the stop requests among them as suppressions.

    A stop request is honoured even when the reply itself is quarantined by validation later.
    """
    rows = [_reply_row(request, reply, idx, as_of) for request, reply in parsed]
    stops = [
        {
            "email_sha256": row["email_sha256"],
            "customer_id": row["customer_id"],
            "reason": "reply_stop",
            "source": "inbound_reply",
        }
        for row, (_, reply) in zip(rows, parsed, strict=True)
        if reply.is_stop
    ]
    return pd.DataFrame(rows, columns=REPLY_COLUMNS), stops


# ------------------------------------------------------------------ clicks
@dataclass
class AttributedClicks:
    """Ratings rows, unsubscribe suppressions, and unsubscribes waiting for their send's address."""

    ratings: pd.DataFrame
    unsubscribes: list[Suppression]
    waiting: set[int]


def attribute_clicks(
    clicks: list[Click],
    idx: SendIndex,
    recipient_hash: Callable[[str], str | None],
    as_of: datetime,
) -> AttributedClicks:
    """Verified clicks -> rating rows (``RATING_COLUMNS``) and one-click unsubscribe suppressions.

    ``recipient_hash(send_key)`` finds a send's address hash when the customers table cannot tell (from its
    events); an unsubscribe whose address is still unknown is never dropped: it waits for the next run.
    """
    rows: list[dict[str, Any]] = []
    unsubscribes: list[Suppression] = []
    waiting: set[int] = set()
    for click in clicks:
        cid, playbook, rh = idx.customer(click.send_key)
        if click.kind == "rating":
            rows.append(
                {
                    "send_key": click.send_key,
                    "customer_id": cid,
                    "playbook": playbook,
                    "score": click.score,
                    "rated_at": click.received_at,
                    "raw_id": click.raw_id,
                    "ingested_at": as_of,
                }
            )
            continue
        rh = rh or recipient_hash(click.send_key)
        if not rh:
            waiting.add(click.raw_id)
            continue
        unsubscribes.append(
            {"email_sha256": rh, "customer_id": cid, "reason": "unsubscribe", "source": "one_click"}
        )
    return AttributedClicks(pd.DataFrame(rows, columns=RATING_COLUMNS), unsubscribes, waiting)
