"""The simulated world answers, over real HTTP (edge module).

Reads the mail sink's ``outbox/accepted.jsonl`` for messages not answered yet, asks the world
(``world.receive_emails(sent_df)``) what the recipients do, and delivers the answers to the receiver the way
SendGrid and mailbox providers would:

* events as Signed Event Webhook batches (ECDSA with the local private key), each event in several copies, some
  with a changed ``sg_event_id`` (as on real retries), shuffled, several batches in flight at once, retried until
  2xx (at-least-once);
* replies as Inbound Parse multipart posts to ``/webhooks/sendgrid/inbound/<secret>`` (reply address plus-tagged
  with the send key, ``In-Reply-To`` the message id);
* unsubscribe events also as RFC 8058 one-click POSTs to ``/u/<token>`` (our ``List-Unsubscribe`` URL);
* ratings as ``GET /r/<token>/<score>``.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from proactive_ml.identity import sign_token
from proactive_ml.responses.receiver import TIMESTAMP_HEADER, local_webhook_keys, signed_headers
from proactive_ml.settings import Settings
from proactive_ml.sim.world import World
from proactive_ml.warehouse import Warehouse

ANSWERED_FILENAME = "world_answered.jsonl"
SENT_COLUMNS = ["customer_id", "email", "send_key", "message_id", "playbook", "sent_at"]


# ------------------------------------------------------------------ what was sent and not answered
def _first_email(to: Any) -> str | None:
    if isinstance(to, str):
        return to
    if isinstance(to, dict):
        return to.get("email")
    if isinstance(to, list) and to:
        return _first_email(to[0])
    return None


def read_accepted(outbox_dir: Path) -> pd.DataFrame:
    """The mail sink's accepted log as rows (email, send_key, message_id, playbook, sent_at)."""
    path = Path(outbox_dir) / "accepted.jsonl"
    rows = []
    if path.exists():
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a torn last line while the sink writes
                args = rec.get("custom_args") or {}
                cats = rec.get("categories") or []
                rows.append(
                    {
                        "email": _first_email(rec.get("to") or rec.get("email")),
                        "send_key": args.get("send_key") or rec.get("send_key"),
                        "message_id": rec.get("message_id"),
                        "playbook": rec.get("playbook") or (cats[0] if cats else None),
                        "sent_at": rec.get("accepted_at"),
                    }
                )
    df = pd.DataFrame(rows, columns=["email", "send_key", "message_id", "playbook", "sent_at"])
    return df.dropna(subset=["email", "send_key"])


def answered_keys(data_dir: Path) -> set[str]:
    """Send keys the world has already answered."""
    path = Path(data_dir) / ANSWERED_FILENAME
    if not path.exists():
        return set()
    return {json.loads(line)["send_key"] for line in path.read_text().splitlines() if line.strip()}


def mark_answered(data_dir: Path, send_keys: Iterable[str], at: datetime) -> None:
    """Append answered send keys (fsync'ed)."""
    path = Path(data_dir) / ANSWERED_FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        for k in send_keys:
            fh.write(json.dumps({"send_key": k, "at": at.isoformat()}) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def unanswered_sends(settings: Settings, wh: Warehouse | None = None) -> pd.DataFrame:
    """Accepted messages not answered yet, as ``world.receive_emails`` wants them.

    With the warehouse, customer id and playbook come from the send ledger and ``sent_at`` is the ledger's
    (simulated) send time (``send_at``, else ``updated_at``); the sink's ``accepted_at`` is wall-clock time.
    """
    acc = read_accepted(settings.outbox_dir)
    acc = acc[~acc["send_key"].isin(answered_keys(settings.data_dir))].drop_duplicates("send_key").copy()
    acc["customer_id"] = None
    acc["sent_at"] = pd.to_datetime(acc["sent_at"], errors="coerce", utc=True).dt.tz_localize(None)
    if wh is not None and len(acc):
        led = wh.query("SELECT * FROM send_ledger").drop_duplicates("send_key").set_index("send_key")
        acc["customer_id"] = acc["send_key"].map(led["customer_id"])
        acc["playbook"] = acc["send_key"].map(led["playbook"]).fillna(acc["playbook"])
        when = pd.Series(pd.NaT, index=led.index, dtype="datetime64[us]")
        for col in ("updated_at", "send_at"):  # send_at (planned send time) wins when present
            if col in led.columns:
                when = pd.to_datetime(led[col]).astype("datetime64[us]").where(lambda v: v.notna(), when)
        acc["sent_at"] = acc["send_key"].map(when).fillna(acc["sent_at"])
    return acc[SENT_COLUMNS].reset_index(drop=True)


# ------------------------------------------------------------------ delivering answers over HTTP
def duplicate_events(
    events: Sequence[dict[str, Any]], copies: int = 3, seed: int = 0, changed_id_share: float = 0.2
) -> list[dict[str, Any]]:
    """Every event ``copies`` times, shuffled; some copies get a new ``sg_event_id`` (as on real retries)."""
    rng = random.Random(seed)  # noqa: S311 - seeded sample data, nothing secret
    out: list[dict[str, Any]] = []
    for ev in events:
        for c in range(copies):
            e = dict(ev)
            if c and "sg_event_id" in e and rng.random() < changed_id_share:
                e["sg_event_id"] = uuid.UUID(int=rng.getrandbits(128)).hex
            out.append(e)
    rng.shuffle(out)
    return out


def post_signed_batches(
    url: str,
    private_pem: bytes,
    events: Sequence[dict[str, Any]],
    batch_size: int = 500,
    concurrency: int = 4,
    max_attempts: int = 8,
    clock: Any = time.time,
    client: Any = None,
) -> dict[str, int]:
    """POST events in signed batches, several at once; retry non-2xx (at-least-once). Returns counts."""
    batches = [list(events[i : i + batch_size]) for i in range(0, len(events), batch_size)]
    own = client is None
    client = client or httpx.Client(timeout=30)
    counts = {"batches": len(batches), "events": len(events), "retries": 0, "failed": 0}

    def send(batch: list[dict[str, Any]]) -> None:
        body = json.dumps(batch, separators=(",", ":")).encode()
        for attempt in range(max_attempts):
            headers = signed_headers(private_pem, body, int(clock()))
            try:
                r = client.post(f"{url}/webhooks/sendgrid/events", content=body, headers=headers)
                if r.status_code < 300:
                    return
            except httpx.HTTPError:
                pass
            counts["retries"] += 1
            time.sleep(min(0.05 * 2**attempt, 1.0))
        counts["failed"] += 1

    try:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(send, batches))
    finally:
        if own:
            client.close()
    return counts


def inbound_form(reply: dict[str, Any], message_id: str | None, reply_domain: str) -> dict[str, str]:
    """Inbound Parse form fields for one world reply (plus-tagged reply address, In-Reply-To)."""
    sk = reply.get("send_key") or ""
    local, _, domain = reply_domain.partition("@")
    to = f"{local}+{sk}@{domain}" if sk else reply_domain
    hdr_lines = [
        f"From: {reply.get('from', '')}",
        f"To: {to}",
        f"Subject: {reply.get('subject', '')}",
        f"Message-ID: <{uuid.uuid4().hex}@mail.example.net>",
    ]
    if message_id:
        hdr_lines.append(f"In-Reply-To: <{message_id}@sendgrid.net>")
    extra = reply.get("headers") or ""
    if isinstance(extra, dict):
        hdr_lines.extend(f"{k}: {v}" for k, v in extra.items())
    elif isinstance(extra, str) and extra.strip():
        hdr_lines.extend(line for line in extra.splitlines() if line.strip())
    return {
        "headers": "\r\n".join(hdr_lines) + "\r\n",
        "from": str(reply.get("from", "")),
        "to": to,
        "subject": str(reply.get("subject", "")),
        "text": str(reply.get("text", "")),
        "envelope": json.dumps({"to": [to], "from": str(reply.get("from", ""))}),
        "charsets": json.dumps({"to": "UTF-8", "from": "UTF-8", "subject": "UTF-8", "text": "UTF-8"}),
        "SPF": "pass",
    }


def post_replies(url: str, inbound_secret: str, forms: Sequence[dict[str, str]], client: Any = None) -> int:
    """POST Inbound Parse multipart forms; returns how many were accepted (2xx)."""
    own = client is None
    client = client or httpx.Client(timeout=30)
    ok = 0
    try:
        for form in forms:
            files = {k: (None, v.encode("utf-8"), "text/plain; charset=utf-8") for k, v in form.items()}
            r = client.post(f"{url}/webhooks/sendgrid/inbound/{inbound_secret}", files=files)
            ok += r.status_code < 300
    finally:
        if own:
            client.close()
    return ok


def post_one_click(url: str, tokens: Sequence[str], client: Any = None, concurrency: int = 4) -> int:
    """RFC 8058 one-click unsubscribe POSTs (``concurrency`` at a time); returns how many were accepted."""

    def click(c: Any, tok: str) -> bool:
        r = c.post(
            f"{url}/u/{tok}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        return bool(r.status_code < 300)

    return _each(client, click, tokens, concurrency)


def get_ratings(
    url: str, tokens_scores: Sequence[tuple[str, int]], client: Any = None, concurrency: int = 4
) -> int:
    """Rating link clicks (``concurrency`` at a time, as people click independently); how many were accepted."""

    def rate(c: Any, item: tuple[str, int]) -> bool:
        tok, score = item
        return bool(c.get(f"{url}/r/{tok}/{int(score)}").status_code < 300)

    return _each(client, rate, tokens_scores, concurrency)


def _each(client: Any, request: Any, items: Sequence[Any], concurrency: int) -> int:
    """Run ``request(client, item)`` for every item on a pool of ``concurrency`` threads; count the True ones."""
    if not items:
        return 0
    own = client is None
    client = client or httpx.Client(timeout=30)
    try:
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            return sum(pool.map(lambda item: request(client, item), items))
    finally:
        if own:
            client.close()


def deliver_answers(
    answers: dict[str, Any],
    settings: Settings,
    receiver_url: str,
    sent: pd.DataFrame | None = None,
    *,
    copies: int = 3,
    seed: int = 0,
    batch_size: int = 500,
    concurrency: int = 4,
    reply_domain: str | None = None,
) -> dict[str, int]:
    """Send the world's answers (events, replies, ratings) to the receiver over HTTP."""
    private_pem, _ = local_webhook_keys(settings.data_dir)
    secret = settings.signing_secret.get_secret_value()
    events = list(answers.get("events") or [])
    mids = {}
    if sent is not None and len(sent):
        mids = dict(zip(sent["send_key"], sent["message_id"], strict=False))
    out: dict[str, int] = {}
    with httpx.Client(timeout=30) as client:
        stats = post_signed_batches(
            receiver_url,
            private_pem,
            duplicate_events(events, copies, seed),
            batch_size=batch_size,
            concurrency=concurrency,
            client=client,
        )
        out.update({f"event_{k}": v for k, v in stats.items()})
        unsub_keys = sorted(
            {e.get("send_key") for e in events if e.get("event") == "unsubscribe" and e.get("send_key")}
        )
        out["one_click"] = post_one_click(
            receiver_url, [sign_token(k, secret) for k in unsub_keys], client=client
        )
        domain = reply_domain or settings.sender_email
        forms = [inbound_form(r, mids.get(r.get("send_key")), domain) for r in answers.get("replies") or []]
        out["replies"] = post_replies(
            receiver_url, settings.inbound_secret.get_secret_value(), forms, client=client
        )
        ratings = [(sign_token(k, secret), s) for k, s in answers.get("ratings") or []]
        out["ratings"] = get_ratings(receiver_url, ratings, client=client)
    return out


def answer_world(
    world: World,
    settings: Settings,
    receiver_url: str,
    as_of: datetime,
    wh: Warehouse | None = None,
    **kwargs: Any,
) -> dict[str, int]:
    """One turn of the loop: unanswered sends -> ``world.receive_emails`` -> answers over HTTP -> mark answered."""
    sent = unanswered_sends(settings, wh)
    if sent.empty:
        return {"sends": 0}
    answers = world.receive_emails(sent)
    out = {"sends": len(sent), **deliver_answers(answers, settings, receiver_url, sent, **kwargs)}
    mark_answered(settings.data_dir, sent["send_key"], as_of)
    return out


__all__ = [
    "TIMESTAMP_HEADER",
    "answer_world",
    "deliver_answers",
    "duplicate_events",
    "post_signed_batches",
    "unanswered_sends",
]
