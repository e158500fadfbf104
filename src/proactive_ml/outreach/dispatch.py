"""Dispatch: claimed ledger rows -> rendered Mail Send requests -> the delivery edge (:mod:`proactive_ml.delivery`).

One code path for production and local runs: the :class:`~proactive_ml.delivery.EmailSender` comes from
:func:`proactive_ml.delivery.sender_from_settings` (SendGrid, or the local sink). Up to 1000 personalizations per
request (one playbook per request: shared content with per-recipient substitutions, see templates.py);
``custom_args`` = {send_key} only; categories = [playbook name]; ``asm.group_id``; sandbox mode from settings.

Failure handling (per request):
- 202 -> rows accepted with the request's ``X-Message-Id``;
- 429 -> wait until ``X-RateLimit-Reset`` plus jitter (our own jitter: see :func:`rate_limit_delay`), retry;
- 5xx, timeouts, connection errors -> bounded retries with exponential backoff and jitter. Before a retry, and
  whenever the outcome is ambiguous, the rows are reconciled with the server (``sender.lookup``) so nothing is
  sent twice; without an authoritative lookup (real SendGrid), an ambiguous request is never re-sent blindly: its
  rows stay 'sending' until events (processed/delivered carry send_key) resolve them;
- 400 -> split the batch to isolate the culprit (to ``dead_letters``, with SendGrid's reason); 413 -> halves.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from proactive_ml.delivery import DeliveryError, EmailSender, Lookup, Reply, sender_from_settings
from proactive_ml.delivery.sendgrid import RetryPolicy, backoff_delay, rate_limit_delay
from proactive_ml.identity import email_hash
from proactive_ml.outreach import ledger
from proactive_ml.outreach.facts import DayFacts
from proactive_ml.outreach.playbooks import Playbook, PlaybookConfig, load_playbooks
from proactive_ml.outreach.policy import consented
from proactive_ml.outreach.templates import (
    Recipient,
    SharedContent,
    UnsafeContent,
    content_key,
    personalize,
    render_shared_content,
    template_folder,
)
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse

Personalizations = list[tuple[str, dict[str, Any]]]  # (send key, personalization)
log = logging.getLogger(__name__)


def events_lookup(wh: Warehouse) -> Lookup:
    """Production reconcile: a send key is accepted if an event names it.

    Any event counts (processed, delivered, deferred, bounce, dropped...). Keys without events are *not* reported, so callers must not treat absence as 'not sent' before a
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
    playbook: Playbook,
    personalizations: list[dict[str, Any]],
    settings: Settings,
    content: SharedContent | None,
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
    reply_to = str(getattr(settings, "reply_to_email", "") or "").strip()
    if reply_to:
        body["reply_to"] = {"email": reply_to}
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


def _text(value: object) -> str | None:
    """A text cell, or None for a missing one (None / NaN)."""
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


@dataclass(frozen=True)
class Claim:
    """One claim of one playbook, being sent: what every request of it shares."""

    token: str
    playbook: Playbook
    content: SharedContent | None
    size: int
    customer_of: dict[str, str]


@dataclass
class Screened:
    """A claim's rows sorted at send time: blocked, refused before sending, ready to send."""

    blocked: list[str]
    dead: list[tuple[str, str, str, int | None, str]]
    ready: dict[tuple[str, str], Personalizations]  # (template, language) -> personalizations


class Dispatcher:
    """Sends claimed batches through one :class:`EmailSender`; all ledger transitions go through ledger.py."""

    def __init__(
        self,
        wh: Warehouse,
        settings: Settings,
        config: PlaybookConfig,
        *,
        sender: EmailSender,
        retry: RetryPolicy,
        sleep: Callable[[float], None],
        rng: random.Random,
        clock: Callable[[], datetime],
        template_dir: Path | str | None,
        as_of: datetime | None = None,
    ) -> None:
        self.wh, self.settings, self.config, self.sender = wh, settings, config, sender
        self.as_of = as_of or clock()
        self.facts = DayFacts(wh, self.as_of)  # read once per run, for every customer due
        self.retry, self.sleep, self.rng, self.clock = retry, sleep, rng, clock
        self.template_dir = template_dir or template_folder(settings)
        self.lock = threading.Lock()
        self.counts = dict.fromkeys(
            ("sent", "requests", "dead_lettered", "failed", "released", "unknown", "rate_limited", "retries"),
            0,
        )
        self.counts["split"] = 0
        self.suppressed = ledger_suppressed(wh)
        self.halted = False  # circuit breaker: after retries are exhausted, leave the rest for a later run

    def _count(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n

    def send_claimed(self, token: str, playbook: Playbook) -> None:
        """Render and send every row of one claim."""
        rows = ledger.claimed_rows(self.wh, token)
        now = self.clock()
        screened = self._screen(rows, playbook, now)
        if screened.blocked:
            ledger.mark_failed(
                self.wh, screened.blocked, now, "blocked at send time: suppressed, no consent or cancelled"
            )
            self._count("failed", len(screened.blocked))
        if screened.dead:
            ledger.dead_letter(self.wh, screened.dead, now)
            self._count("dead_lettered", len(screened.dead))
        cid = dict(zip(rows["send_key"], rows["customer_id"], strict=False))
        for (template, lang), ready in sorted(screened.ready.items()):
            content = (
                None
                if playbook.sendgrid_template_id
                else render_shared_content(
                    playbook, self.settings, self.template_dir, template=template, lang=lang
                )
            )
            self._send(ready, Claim(token, playbook, content, len(rows), cid))

    def _screen(self, rows: pd.DataFrame, playbook: Playbook, now: datetime) -> Screened:
        """Suppression, consent and cancellation checked again at send time; unsafe content refused."""
        hashes, customers = self.suppressed
        out = Screened([], [], {})
        facts = self.facts.of(rows["customer_id"].astype(str).tolist())
        cancelled_at = pd.to_datetime(rows["cancelled_at"], errors="coerce")
        cancelled = (cancelled_at.notna() & (cancelled_at <= pd.Timestamp(now))).tolist()
        cols = [
            rows[c].tolist()
            for c in ("send_key", "customer_id", "playbook", "email", "name", "variant", "marketing_consent")
        ]
        for (sk, cust, pbn, email, name, variant, consent), canc in zip(
            zip(*cols, strict=True), cancelled, strict=True
        ):
            ok = consented(consent)  # as the plan read it: explicit consent only
            email = _text(email) or ""
            if not ok or canc or str(cust) in customers or not email or email_hash(email) in hashes:
                out.blocked.append(sk)
                continue
            recipient = Recipient(sk, email, _text(name), facts.get(str(cust)), _text(variant))
            try:
                p = personalize(recipient, playbook, self.settings, self.template_dir)
            except UnsafeContent as exc:
                out.dead.append((sk, cust, pbn, None, str(exc)))
                continue
            out.ready.setdefault(content_key(recipient, playbook, self.template_dir), []).append((sk, p))
        return out

    def _send(self, ps: Personalizations, claim: Claim) -> None:
        """Send one batch until it is accepted, refused, left for events or given up (then the run halts)."""
        attempt, waits = 0, 0
        while ps:
            keys = [k for k, _ in ps]
            reply = self.sender.send(
                build_body(claim.playbook, [p for _, p in ps], self.settings, claim.content)
            )
            self._count("requests")
            st = reply.status
            if st in (200, 202):
                self._accepted(keys, reply, claim)
                return
            if st == 429:
                waits += 1
                if not self._wait_for_rate_limit(keys, reply, claim, waits):
                    return
                continue
            if st in (400, 413):
                self._refused(ps, reply, claim)
                return
            if st in (401, 403):
                ledger.release(self.wh, keys, self.clock(), f"HTTP {st}", claim.token)
                raise DeliveryError(f"SendGrid refused the API key (HTTP {st}): {_error_reason(reply)}")
            ps = self._unresolved(ps, reply, claim)
            attempt += 1
            if ps and not self._back_off(ps, reply, claim, attempt):
                return

    def _accepted(self, keys: list[str], reply: Reply, claim: Claim) -> None:
        st = reply.status
        mid = (reply.headers.get("X-Message-Id") if reply.headers is not None else None) or (
            "sandbox" if st == 200 else None
        )
        whole = len(keys) == claim.size
        ledger.mark_accepted(self.wh, keys, mid, self.clock(), claim.token, whole_claim=whole)
        self._count("sent", len(keys))

    def _wait_for_rate_limit(self, keys: list[str], reply: Reply, claim: Claim, waits: int) -> bool:
        """Wait out a 429 (True), or release the rows and halt after too many waits (False)."""
        self._count("rate_limited")
        if waits > self.retry.max_rate_limit_waits:
            ledger.release(self.wh, keys, self.clock(), "rate limited too long", claim.token)
            self._count("released", len(keys))
            self.halted = True
            return False
        self.sleep(rate_limit_delay(reply.headers, time.time(), self.retry, self.rng, waits))
        return True

    def _refused(self, ps: Personalizations, reply: Reply, claim: Claim) -> None:
        """400/413: split the batch in halves; a single refused message goes to the dead letters."""
        if len(ps) > 1:
            self._count("split")
            half = len(ps) // 2
            self._send(ps[:half], claim)
            self._send(ps[half:], claim)
            return
        k = ps[0][0]
        reason = _error_reason(reply)
        ledger.dead_letter(
            self.wh,
            [(k, claim.customer_of.get(k, ""), claim.playbook.name, reply.status, reason)],
            self.clock(),
        )
        self._count("dead_lettered")

    def _unresolved(self, ps: Personalizations, reply: Reply, claim: Claim) -> Personalizations:
        """After a failure: what may still be sent (rows the server accepted after all are marked accepted).

        A 5xx, timeout or connection error is ambiguous: the server may have accepted the request. With an
        authoritative lookup the accepted rows are recorded; without one a request that got no answer at all is
        never re-sent (events resolve those rows), while a 5xx answer is retried.
        """
        st = reply.status
        ambiguous = st is None or st >= 500
        lookup = self.sender.lookup
        if ambiguous and lookup is not None:
            found = lookup([k for k, _ in ps])
            by_mid: dict[str, list[str]] = {}
            for k, _ in ps:
                if k in found:
                    by_mid.setdefault(found[k], []).append(k)
            for mid, ks in by_mid.items():
                ledger.mark_accepted(self.wh, ks, mid, self.clock(), claim.token)
                self._count("sent", len(ks))
            return [(k, p) for k, p in ps if k not in found]
        if st is None:
            self._count("unknown", len(ps))
            return []
        return ps

    def _back_off(self, ps: Personalizations, reply: Reply, claim: Claim, attempt: int) -> bool:
        """Sleep before the next attempt (True), or release the rows and halt once attempts are spent (False)."""
        if attempt >= self.retry.max_attempts:
            reason = f"gave up after {attempt} attempts: HTTP {reply.status} {reply.body[:200]}"
            ledger.release(self.wh, [k for k, _ in ps], self.clock(), reason, claim.token)
            self._count("released", len(ps))
            self.halted = True
            return False
        self._count("retries")
        self.sleep(backoff_delay(attempt, self.retry, self.rng))
        return True


def ledger_suppressed(wh: Warehouse) -> tuple[set[str], set[str]]:
    """(suppressed email hashes, suppressed customer ids) at send time."""
    df = wh.query("SELECT email_sha256, customer_id FROM suppressions")
    return set(df["email_sha256"].astype(str)), set(df["customer_id"].dropna().astype(str))


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def reconcile_stuck(
    wh: Warehouse, sender: EmailSender, *, now: datetime, stale_after: timedelta
) -> dict[str, int]:
    """Resolve rows left 'sending' by an earlier run.

    With the sender's authoritative lookup its answer counts both ways; else the events we received decide, and
    they only prove acceptance (absence proves nothing).
    """
    if sender.lookup is not None:
        out = ledger.reconcile(wh, sender.lookup, now=now, stale_after=stale_after, release_missing=True)
    else:
        out = ledger.reconcile(wh, events_lookup(wh), now=now, stale_after=stale_after, release_missing=False)
    if out["reconciled_accepted"] or out["reconciled_released"] or out["reconciled_dead_sender"]:
        log.info(
            "reconciled rows left 'sending' by an earlier sender (%d of a sender known dead): %d accepted by the "
            "server (not sent again), %d not there (released, sent now)",
            out["reconciled_dead_sender"],
            out["reconciled_accepted"],
            out["reconciled_released"],
        )
    return out


def send_playbook(
    dispatcher: Dispatcher, playbook: Playbook, *, now: datetime, batch_size: int, workers: int
) -> None:
    """Claim and send every due row of one playbook on ``workers`` threads; the first error is raised after all stop."""
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while not dispatcher.halted:
                token, keys = ledger.claim(
                    dispatcher.wh, playbook=playbook.name, now=now, limit=batch_size, stamp=dispatcher.clock()
                )
                if not keys:
                    return
                dispatcher.send_claimed(token, playbook)
        except BaseException as exc:  # surfaced after the other workers stop
            errors.append(exc)

    threads = [threading.Thread(target=work, name=f"sender-{i}") for i in range(max(workers, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def deliver_pending(
    wh: Warehouse,
    settings: Settings,
    *,
    now: datetime | None = None,
    config: PlaybookConfig | None = None,
    sender: EmailSender | None = None,
    batch_size: int = 1000,
    workers: int = 2,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    stale_after: timedelta = timedelta(minutes=10),
    clock: Callable[[], datetime] | None = None,
    template_dir: Path | str | None = None,
) -> dict[str, int]:
    """Reconcile rows stuck in 'sending', then send every planned row due at ``now`` (default: the clock).

    Rows claimed by a sender known to be dead (killed: see :mod:`proactive_ml.outreach.claims`) are reconciled at
    once; the counts say what was reconciled (``reconciled_*``) and what is still 'sending' afterwards.

    ``sender`` defaults to :func:`~proactive_ml.delivery.sender_from_settings`. ``now`` (the run's as-of time)
    decides which rows are due (send_at <= now); ``clock`` (default: wall clock, this is an edge) stamps claims and
    decides which 'sending' rows are stuck (claimed before clock() - stale_after: a live sender's claims are
    younger, so overlapping runs never reconcile each other's rows).
    """
    config = config or load_playbooks(settings.playbooks_file or None)
    retry = retry or RetryPolicy()
    clock = clock or _utcnow
    now = now or clock()
    sender = sender or sender_from_settings(settings, timeout=retry.timeout)
    out = reconcile_stuck(wh, sender, now=clock(), stale_after=stale_after)
    dispatcher = Dispatcher(
        wh,
        settings,
        config,
        sender=sender,
        retry=retry,
        sleep=sleep,
        rng=rng or random.Random(),  # noqa: S311 - retry jitter, not security
        clock=clock,
        template_dir=template_dir,
        as_of=now,
    )
    for name in ledger.due_playbooks(wh, now):
        send_playbook(dispatcher, config.get(name), now=now, batch_size=batch_size, workers=workers)
    out.update(dispatcher.counts)
    out["still_sending"] = ledger.ledger_counts(wh).get("sending", 0)
    return out
