"""How the simulated world answers proactive emails: SendGrid events, replies, ratings, and the churn effect.

Deterministic: the random draws for a batch come from the world's seed and the batch's send keys, so the same
sends get the same answers whatever else happened, and the world's own day-by-day stream is not disturbed.

Events follow SendGrid's Event Webhook shape (``custom_args`` flattened to the top level, so ``send_key`` is a
top-level field; ``sg_message_id`` = ``<X-Message-Id>.filter0001.<n>``; no ``sg_event_id`` on unsubscribe and
group_unsubscribe). SendGrid's own suppression is simulated: after a bounce, unsubscribe or spam report, later
sends to that address are ``dropped`` and have no effect.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import numpy as np
import pandas as pd

from proactive_ml.sim.world import text
from proactive_ml.sim.world.config import LOST_CAUSE, PERSUADABLE, SLEEPING_DOG, SURE_THING
from proactive_ml.sim.world.state import SEND_HORIZONS, epoch_seconds, parse_customer_ids
from proactive_ml.sim.world.truth import Truth

REQUIRED = ("customer_id", "email", "send_key", "message_id", "playbook", "sent_at")
DAY_S = 86_400
# per response type: open-propensity factor, unsubscribe factor, reply mix (ooo, stop, thanks, question), rating mean
OPEN_P = {SURE_THING: 0.48, PERSUADABLE: 0.44, LOST_CAUSE: 0.25, SLEEPING_DOG: 0.30}
UNSUB_F = {SURE_THING: 0.4, PERSUADABLE: 0.6, LOST_CAUSE: 1.5, SLEEPING_DOG: 3.0}
REPLY_MIX = {
    SURE_THING: (0.35, 0.05, 0.40, 0.20),
    PERSUADABLE: (0.25, 0.05, 0.35, 0.35),
    LOST_CAUSE: (0.30, 0.30, 0.10, 0.30),
    SLEEPING_DOG: (0.30, 0.40, 0.10, 0.20),
}
RATING_MEAN = {SURE_THING: 4.0, PERSUADABLE: 4.3, LOST_CAUSE: 2.2, SLEEPING_DOG: 2.6}
DROP_REASONS = {1: "Bounced Address", 2: "Unsubscribed Address", 3: "Spam Reporting Address"}
REPLY_TO = "replies@example.org"


def _event_id(*parts: object) -> str:
    raw = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()[:16]
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _recipient_slots(world: Truth, sent: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each row's customer slot, and whether this world knows it.

    A row without a usable customer id is matched on the address (user<n>@example.*), like a mail server would.
    """
    idx = parse_customer_ids(sent["customer_id"].astype(str))
    by_email = (
        pd.to_numeric(
            sent["email"].astype(str).str.extract(r"^user(\d+)@example\.(?:com|org)$")[0], errors="coerce"
        )
        .fillna(0)
        .to_numpy(dtype=np.int64)
        - 1
    )
    idx = np.where((idx >= 0) & (idx < world.n), idx, by_email)
    return idx, (idx >= 0) & (idx < world.n)


class _Answerer:
    """Answers one batch of sends, row by row, with the batch's own random draws."""

    def __init__(self, world: Truth, sent: pd.DataFrame) -> None:
        self.world, self.cfg, self.c = world, world.config, world.c
        keys = sent["send_key"].astype(str).tolist()
        digest = hashlib.sha256("\n".join(keys).encode()).digest()
        rng = np.random.default_rng([self.cfg.seed, int.from_bytes(digest[:8], "little"), 0xE3A1])
        self.idx, self.known = _recipient_slots(world, sent)
        self.day_start = (world.day + 1) * DAY_S  # fallback send time: the start of the next simulated day
        k = len(sent)
        self.u = rng.random((k, 12))
        self.delays = rng.exponential(1.0, (k, 6))
        self.pick = rng.integers(0, 1_000_000, (k, 3))
        self.noise = rng.normal(0.0, 0.9, k)
        self.nth = sent.groupby("message_id", sort=False).cumcount().to_numpy()
        self.open_scale = self.cfg.open_rate / 0.40
        self.events: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []
        self.ratings: list[tuple[str, int]] = []
        self.log: list[tuple[str, str, int, bool, int]] = []

    def _ev(self, base: dict[str, Any], name: str, ts: int, *, with_id: bool = True, **extra: Any) -> None:
        e = {**base, "event": name, "timestamp": int(ts), **extra}
        if with_id:
            e["sg_event_id"] = _event_id(self.cfg.seed, base["sg_message_id"], name, ts, len(self.events))
        self.events.append(e)

    def answer(self, i: int, row: Any) -> None:
        """Events (and maybe a reply and a rating) for row ``i``; a delivered email takes effect on churn."""
        key, mid, email = str(row.send_key), str(row.message_id), str(row.email)
        t0 = self.day_start if pd.isna(row.sent_at) else epoch_seconds(row.sent_at)
        base = {
            "email": email,
            "sg_message_id": f"{mid}.filter0001.{self.nth[i]}",
            "send_key": key,
            "category": ["proactive", str(row.playbook)],
        }
        self._ev(base, "processed", t0 + int(self.u[i, 0] * 5))
        self.events[-1]["smtp-id"] = f"<{mid}@example.net>"
        j = int(self.idx[i]) if self.known[i] else -1
        self.log.append((key, str(row.customer_id), t0, False, j))
        if self._not_delivered(i, j, t0, base):
            return
        t_del = t0 + 5 + int(self.u[i, 1] * 300)
        self._ev(base, "delivered", t_del, response="250 2.0.0 OK")
        c = self.c
        # the effect on churn: from the day after sending, for effect_days
        c["treat_until"][j] = max(int(c["treat_until"][j]), int(t0 // DAY_S + self.cfg.effect_days))
        c["emails"][j] += 1
        self.log[-1] = (key, str(row.customer_id), t0, True, j)
        rt = int(c["rtype"][j])
        opened, t_open = self._opens(i, rt, t_del, base)
        t_act = t_open if opened else t_del + 3600 + int(self.delays[i, 3] * 6 * 3600)
        self._unsubscribe_or_spam(i, j, rt, t_act, base)
        self._reply(i, j, rt, key, email, opened, (t_del, t_act))
        if self.u[i, 10] < self.cfg.rating_rate * (1.8 if opened else 0.45):
            self.ratings.append((key, int(np.clip(np.round(RATING_MEAN[rt] + self.noise[i]), 1, 5))))

    def _not_delivered(self, i: int, j: int, t0: int, base: dict[str, Any]) -> bool:
        """Bounce an unknown or bad address, drop a suppressed one (SendGrid's own suppression list)."""
        c = self.c
        if j < 0:
            reason = "550 5.1.1 unknown user"
        elif int(c["sg_suppressed"][j]):
            self._ev(base, "dropped", t0 + 1, reason=DROP_REASONS[int(c["sg_suppressed"][j])])
            return True
        elif c["bad_address"][j]:
            c["sg_suppressed"][j] = 1
            reason = "550 5.1.1 The email account does not exist"
        else:
            return False
        self._ev(
            base, "bounce", t0 + 5 + int(self.u[i, 1] * 60), reason=reason, status="5.1.1", type="bounce"
        )
        return True

    def _opens(self, i: int, rt: int, t_del: int, base: dict[str, Any]) -> tuple[bool, int]:
        """Open (sometimes twice) and maybe click; (opened, first open time)."""
        u, delays = self.u, self.delays
        opened = bool(u[i, 2] < OPEN_P[rt] * self.open_scale)
        t_open = t_del + 60 + int(delays[i, 0] * 4 * 3600)
        if not opened:
            return False, t_open
        agent: dict[str, Any] = {"useragent": "Mozilla/5.0", "ip": "192.0.2.10"}
        self._ev(base, "open", t_open, **agent, sg_machine_open=False)
        if u[i, 3] < 0.3:
            t_again = t_open + 600 + int(delays[i, 1] * 6 * 3600)
            self._ev(base, "open", t_again, useragent="Mozilla/5.0", ip="192.0.2.11", sg_machine_open=False)
        if u[i, 4] < self.cfg.click_given_open:
            t_click = t_open + 5 + int(delays[i, 2] * 120)
            where: dict[str, Any] = {
                "url": "https://app.example.com/help",
                "url_offset": {"index": 0, "type": "html"},
            }
            self._ev(base, "click", t_click, **where, **agent)
        return True, t_open

    def _unsubscribe_or_spam(self, i: int, j: int, rt: int, t_act: int, base: dict[str, Any]) -> None:
        c, u = self.c, self.u
        if u[i, 5] < self.cfg.unsubscribe_rate * UNSUB_F[rt]:
            c["sg_suppressed"][j] = 2
            c["unsubscribed"][j] = True
            if u[i, 6] < 0.7:
                self._ev(base, "unsubscribe", t_act + 30, with_id=False)
            else:
                self._ev(base, "group_unsubscribe", t_act + 30, with_id=False, asm_group_id=1)
        elif u[i, 7] < self.cfg.spam_rate * UNSUB_F[rt]:
            c["sg_suppressed"][j] = 3
            self._ev(base, "spamreport", t_act + 20)

    def _reply(
        self, i: int, j: int, rt: int, key: str, email: str, opened: bool, times: tuple[int, int]
    ) -> None:
        """Maybe a reply: out of office, stop, thanks or a question (per response type)."""
        u = self.u
        if not u[i, 8] < self.cfg.reply_rate * (1.5 if opened else 0.5):
            return
        t_del, t_act = times
        kind = int(np.searchsorted(np.cumsum(REPLY_MIX[rt]), u[i, 9] * 0.999999, side="right"))
        kind_name = text.REPLY_KINDS[kind]
        pool = text.REPLY_TEXTS[kind]
        auto = kind_name == "out_of_office"
        if kind_name == "stop":
            self.c["stop_requested"][j] = True
        self.replies.append(
            {
                "from": email,
                "to": REPLY_TO,
                "subject": ("Automatic reply: " if auto else "Re: ") + "your account",
                "text": pool[int(self.pick[i, 0]) % len(pool)],
                "send_key": key,
                "timestamp": int(t_del + 20 if auto else t_act + 120 + int(self.delays[i, 4] * 3600)),
                "headers": "Auto-Submitted: auto-replied\r\nX-Autoreply: yes" if auto else "",
                "kind": kind_name,
            }
        )


def answer_emails(world: Truth, sent: pd.DataFrame) -> dict[str, list[Any]]:
    """SendGrid events, inbound replies and ratings for ``sent`` rows; applies the emails' churn effect.

    ``sent`` has columns customer_id, email, send_key, message_id, playbook, sent_at (naive UTC). Returns
    ``{"events": [dict], "replies": [dict], "ratings": [(send_key, score)]}``; every timestamp is at or after
    the row's ``sent_at``.
    """
    missing = [c for c in REQUIRED if c not in sent.columns]
    if missing:
        raise ValueError(f"receive_emails needs columns {missing}")
    if sent.empty:
        return {"events": [], "replies": [], "ratings": []}
    answerer = _Answerer(world, sent)
    uplift = {
        h: world.uplift_now(h) for h in SEND_HORIZONS
    }  # the truth of these sends, before they take effect
    for i, row in enumerate(sent.itertuples(index=False)):
        answerer.answer(i, row)
    world.record_sends(answerer.log, uplift)
    return {"events": answerer.events, "replies": answerer.replies, "ratings": answerer.ratings}
