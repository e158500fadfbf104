"""Dispatch: claimed ledger rows -> rendered Mail Send requests -> the delivery edge (:mod:`proactive_ml.delivery`).

One code path for production and local runs: the API host is ``settings.sendgrid_host`` (SendGrid) or the local
sink's URL. Up to 1000 personalizations per request (one playbook per request: shared content with
per-recipient substitutions, see templates.py); ``custom_args`` = {send_key} only; categories = [playbook name];
``asm.group_id``; sandbox mode from settings.

Failure handling (per request):
- 202 -> rows accepted with the request's ``X-Message-Id``;
- 429 -> wait until ``X-RateLimit-Reset`` plus jitter (our own jitter: see :func:`rate_limit_delay`), retry;
- 5xx, timeouts, connection errors -> bounded retries with exponential backoff and jitter. Before a retry, and
  whenever the outcome is ambiguous, the rows are reconciled with the server (``lookup``) so nothing is sent
  twice; without an authoritative lookup (real SendGrid), an ambiguous request is never re-sent blindly: its rows
  stay 'sending' until events (processed/delivered carry send_key) resolve them;
- 400 -> split the batch to isolate the culprit, which goes to ``dead_letters`` with SendGrid's reason;
- 413 -> split the batch in halves.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from proactive_ml.delivery.sendgrid import (
    DeliveryError,
    Lookup,
    Reply,
    RetryPolicy,
    SendGridTransport,
    backoff_delay,
    is_sendgrid,
    rate_limit_delay,
    resolve_host,
    sink_lookup,
)
from proactive_ml.identity import email_hash
from proactive_ml.outreach import ledger
from proactive_ml.outreach.playbooks import Playbook, PlaybookConfig, load_playbooks
from proactive_ml.outreach.templates import Recipient, UnsafeContent, personalize, render_shared_content
from proactive_ml.warehouse import Warehouse


def events_lookup(wh: Warehouse) -> Lookup:
    """Production reconcile: a send key is accepted if an event (processed, delivered, deferred, bounce, dropped...)
    names it. Keys without events are *not* reported, so callers must not treat absence as 'not sent' before a
    grace period (SendGrid emits 'processed' within minutes).
    """

    def lookup(keys: list[str]) -> dict[str, str]:
        if not keys:
            return {}
        inl = ", ".join(f":k{i}" for i in range(len(keys)))
        df = wh.query(
            f"SELECT send_key, max(sg_message_id) AS mid FROM email_events WHERE send_key IN ({inl}) "
            "GROUP BY send_key",
            {f"k{i}": k for i, k in enumerate(keys)},
        )
        return {
            k: m.split(".")[0]
            for k, m in zip(df["send_key"], df["mid"], strict=True)
            if isinstance(m, str) and m
        }

    return lookup


def build_body(
    playbook: Playbook, personalizations: list[dict[str, Any]], settings: Any, content: Any | None
) -> dict[str, Any]:
    """The Mail Send request for one batch of one playbook."""
    body: dict[str, Any] = {
        "from": {
            "email": settings.sender_email,
            "name": settings.sender_name.replace(",", " ").replace(";", " "),
        },
        "personalizations": personalizations,
        "categories": [playbook.name],
        "asm": {"group_id": int(settings.sendgrid_asm_group_id)},
        "mail_settings": {"sandbox_mode": {"enable": bool(settings.sendgrid_sandbox_mode)}},
        "tracking_settings": {"subscription_tracking": {"enable": False}},
    }
    if playbook.sendgrid_template_id:
        body["template_id"] = playbook.sendgrid_template_id
    elif content is not None:
        body["content"] = [
            {"type": "text/plain", "value": content.text},
            {"type": "text/html", "value": content.html},
        ]
    return body


def _error_reason(reply: Reply) -> str:
    try:
        errs = json.loads(reply.body).get("errors") or []
        return (
            "; ".join(f"{e.get('field') or ''}: {e.get('message')}" for e in errs)[:900] or reply.body[:900]
        )
    except (ValueError, AttributeError):
        return (reply.body or "")[:900]


class Sender:
    """Sends claimed batches; all ledger transitions go through ledger.py."""

    def __init__(
        self,
        wh: Warehouse,
        settings: Any,
        config: PlaybookConfig,
        *,
        host: str,
        transport_factory: Callable[[], Any],
        lookup: Lookup | None,
        retry: RetryPolicy,
        sleep: Callable[[float], None],
        rng: random.Random,
        clock: Callable[[], datetime],
        template_dir: Path | str | None,
    ) -> None:
        self.wh, self.settings, self.config, self.host = wh, settings, config, host
        self.transport_factory, self.lookup, self.retry = transport_factory, lookup, retry
        self.sleep, self.rng, self.clock, self.template_dir = sleep, rng, clock, template_dir
        self.local = threading.local()
        self.lock = threading.Lock()
        self.counts = {
            "sent": 0,
            "requests": 0,
            "dead_lettered": 0,
            "failed": 0,
            "released": 0,
            "unknown": 0,
            "rate_limited": 0,
            "retries": 0,
            "split": 0,
        }
        self.suppressed = ledger_suppressed(wh)
        self.claim_sizes: dict[str, int] = {}
        self.halted = False  # circuit breaker: after retries are exhausted, leave the rest for a later run

    def _count(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n

    def _transport(self) -> Any:
        if not hasattr(self.local, "t"):
            self.local.t = self.transport_factory()
        return self.local.t

    def send_claimed(self, token: str, playbook: Playbook) -> None:
        """Render and send every row of one claim."""
        rows = ledger.claimed_rows(self.wh, token)
        now = self.clock()
        hashes, customers = self.suppressed
        blocked, dead, ps = [], [], []
        cancelled_at = pd.to_datetime(rows["cancelled_at"], errors="coerce")
        cancelled = (cancelled_at.notna() & (cancelled_at <= pd.Timestamp(now))).tolist()
        cols = [
            rows[c].tolist()
            for c in ("send_key", "customer_id", "playbook", "email", "name", "reasons", "marketing_consent")
        ]
        for (sk, cust, pbn, email, name, reasons, consent), canc in zip(
            zip(*cols, strict=True), cancelled, strict=True
        ):
            ok = consent is True or str(consent).lower() == "true"
            email = "" if email is None or (isinstance(email, float) and pd.isna(email)) else str(email)
            if not ok or canc or str(cust) in customers or not email or email_hash(email) in hashes:
                blocked.append(sk)
                continue
            codes = tuple(x for x in str(reasons or "").split("|") if x)
            name = None if name is None or (isinstance(name, float) and pd.isna(name)) else str(name)
            try:
                p = personalize(
                    Recipient(sk, email, name, codes),
                    playbook,
                    self.settings,
                    self.config.reason_texts,
                    self.template_dir,
                )
            except UnsafeContent as exc:
                dead.append((sk, cust, pbn, None, str(exc)))
                continue
            ps.append((sk, p))
        if blocked:
            ledger.mark_failed(
                self.wh, blocked, now, "blocked at send time: suppressed, no consent or cancelled"
            )
            self._count("failed", len(blocked))
        if dead:
            ledger.dead_letter(self.wh, dead, now)
            self._count("dead_lettered", len(dead))
        if ps:
            content = (
                None
                if playbook.sendgrid_template_id
                else render_shared_content(playbook, self.settings, self.template_dir)
            )
            cid = dict(zip(rows["send_key"], rows["customer_id"], strict=False))
            self.claim_sizes[token] = len(rows)
            self._send(ps, playbook, content, token, cid)

    def _send(
        self,
        ps: list[tuple[str, dict[str, Any]]],
        playbook: Playbook,
        content: Any,
        token: str,
        cid: dict[str, str],
    ) -> None:
        attempt, waits = 0, 0
        while ps:
            keys = [k for k, _ in ps]
            body = build_body(playbook, [p for _, p in ps], self.settings, content)
            reply = self._transport().post(body)
            self._count("requests")
            st = reply.status
            if st in (200, 202):
                mid = (reply.headers.get("X-Message-Id") if reply.headers is not None else None) or (
                    "sandbox" if st == 200 else None
                )
                whole = len(keys) == self.claim_sizes.get(token, -1)
                ledger.mark_accepted(self.wh, keys, mid, self.clock(), token, whole_claim=whole)
                self._count("sent", len(keys))
                return
            if st == 429:
                waits += 1
                self._count("rate_limited")
                if waits > self.retry.max_rate_limit_waits:
                    ledger.release(self.wh, keys, self.clock(), "rate limited too long", token)
                    self._count("released", len(keys))
                    self.halted = True
                    return
                self.sleep(rate_limit_delay(reply.headers, time.time(), self.retry, self.rng, waits))
                continue
            if st in (400, 413) and len(ps) > 1:
                self._count("split")
                half = len(ps) // 2
                self._send(ps[:half], playbook, content, token, cid)
                self._send(ps[half:], playbook, content, token, cid)
                return
            if st in (400, 413):
                k = keys[0]
                ledger.dead_letter(
                    self.wh, [(k, cid.get(k, ""), playbook.name, st, _error_reason(reply))], self.clock()
                )
                self._count("dead_lettered")
                return
            if st in (401, 403):
                ledger.release(self.wh, keys, self.clock(), f"HTTP {st}", token)
                raise DeliveryError(f"SendGrid refused the API key (HTTP {st}): {_error_reason(reply)}")
            # 5xx, other codes, timeouts, connection errors: possibly accepted -> reconcile before any retry
            ambiguous = st is None or st >= 500
            if ambiguous and self.lookup is not None:
                found = self.lookup(keys)
                by_mid: dict[str, list[str]] = {}
                for k in keys:
                    if k in found:
                        by_mid.setdefault(found[k], []).append(k)
                for mid, ks in by_mid.items():
                    ledger.mark_accepted(self.wh, ks, mid, self.clock(), token)
                    self._count("sent", len(ks))
                ps = [(k, p) for k, p in ps if k not in found]
                if not ps:
                    return
            elif st is None:
                # no authoritative lookup (real SendGrid): never re-send blindly; events will resolve these rows
                self._count("unknown", len(keys))
                return
            attempt += 1
            if attempt >= self.retry.max_attempts:
                ledger.release(
                    self.wh,
                    [k for k, _ in ps],
                    self.clock(),
                    f"gave up after {attempt} attempts: HTTP {st} {reply.body[:200]}",
                    token,
                )
                self._count("released", len(ps))
                self.halted = True
                return
            self._count("retries")
            self.sleep(backoff_delay(attempt, self.retry, self.rng))


def ledger_suppressed(wh: Warehouse) -> tuple[set[str], set[str]]:
    """(suppressed email hashes, suppressed customer ids) at send time."""
    df = wh.query("SELECT email_sha256, customer_id FROM suppressions")
    return set(df["email_sha256"].astype(str)), set(df["customer_id"].dropna().astype(str))


def _utcnow() -> datetime:
    from datetime import UTC

    return datetime.now(UTC).replace(tzinfo=None)


def deliver_pending(
    wh: Warehouse,
    settings: Any,
    *,
    now: datetime | None = None,
    config: PlaybookConfig | None = None,
    host: str | None = None,
    batch_size: int = 1000,
    workers: int = 2,
    transport_factory: Callable[[], Any] | None = None,
    lookup: Lookup | None = None,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    stale_after: timedelta = timedelta(minutes=10),
    clock: Callable[[], datetime] | None = None,
    template_dir: Path | str | None = None,
) -> dict[str, int]:
    """Reconcile rows stuck in 'sending', then send every planned row due at ``now`` (default: the clock).

    ``now`` (the run's as-of time) decides which rows are due (send_at <= now); ``clock`` (default: wall clock,
    this is an edge) stamps claims and decides which 'sending' rows are stuck (claimed before clock() -
    stale_after: a live sender's claims are younger, so overlapping runs never reconcile each other's rows).
    """
    config = config or load_playbooks()
    retry = retry or RetryPolicy()
    host = resolve_host(settings, host)
    clock = clock or _utcnow
    now = now or clock()
    if lookup is None:
        lookup = events_lookup(wh) if is_sendgrid(host) else sink_lookup(host, max(retry.timeout, 30.0))
    api_key = settings.sendgrid_api_key.get_secret_value()
    factory = transport_factory or (lambda: SendGridTransport(api_key, host, retry.timeout))
    out: dict[str, int] = {}
    if lookup is not None:
        # the sink's answer is authoritative both ways; events only prove acceptance (absence proves nothing)
        out.update(
            ledger.reconcile(
                wh, lookup, now=clock(), stale_after=stale_after, release_missing=not is_sendgrid(host)
            )
        )
    sender = Sender(
        wh,
        settings,
        config,
        host=host,
        transport_factory=factory,
        lookup=lookup if not is_sendgrid(host) else None,
        retry=retry,
        sleep=sleep,
        rng=rng or random.Random(),
        clock=clock,
        template_dir=template_dir,
    )
    for name in ledger.due_playbooks(wh, now):
        playbook = config.get(name)
        errors: list[BaseException] = []

        def work(pb: Playbook = playbook, errors: list[BaseException] = errors) -> None:
            try:
                while not sender.halted:
                    token, keys = ledger.claim(wh, playbook=pb.name, now=now, limit=batch_size, stamp=clock())
                    if not keys:
                        return
                    sender.send_claimed(token, pb)
            except BaseException as exc:  # surfaced after the other workers stop
                errors.append(exc)

        threads = [threading.Thread(target=work, name=f"sender-{i}") for i in range(max(workers, 1))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
    out.update(sender.counts)
    return out
