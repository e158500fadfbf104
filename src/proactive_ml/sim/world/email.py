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
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from proactive_ml.sim.world import text
from proactive_ml.sim.world.config import LOST_CAUSE, PERSUADABLE, SLEEPING_DOG, SURE_THING
from proactive_ml.sim.world.state import SEND_HORIZONS, epoch_seconds, parse_customer_ids

if TYPE_CHECKING:
    from proactive_ml.sim.world.simulator import World

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


def answer_emails(world: World, sent: pd.DataFrame) -> dict[str, list[Any]]:
    """SendGrid events, inbound replies and ratings for ``sent`` rows; applies the emails' churn effect.

    ``sent`` has columns customer_id, email, send_key, message_id, playbook, sent_at (naive UTC). Returns
    ``{"events": [dict], "replies": [dict], "ratings": [(send_key, score)]}``; every timestamp is at or after
    the row's ``sent_at``.
    """
    missing = [c for c in REQUIRED if c not in sent.columns]
    if missing:
        raise ValueError(f"receive_emails needs columns {missing}")
    events: list[dict[str, Any]] = []
    replies: list[dict[str, Any]] = []
    ratings: list[tuple[str, int]] = []
    if sent.empty:
        return {"events": events, "replies": replies, "ratings": ratings}
    cfg, c = world.config, world.c
    keys = sent["send_key"].astype(str).tolist()
    digest = hashlib.sha256("\n".join(keys).encode()).digest()
    rng = np.random.default_rng([cfg.seed, int.from_bytes(digest[:8], "little"), 0xE3A1])
    k = len(sent)
    idx = parse_customer_ids(sent["customer_id"].astype(str))
    # a row without a usable customer id is matched on the address (user<n>@example.*), like a mail server would
    by_email = (
        pd.to_numeric(
            sent["email"].astype(str).str.extract(r"^user(\d+)@example\.(?:com|org)$")[0], errors="coerce"
        )
        .fillna(0)
        .to_numpy(dtype=np.int64)
        - 1
    )
    idx = np.where((idx >= 0) & (idx < world.n), idx, by_email)
    known = (idx >= 0) & (idx < world.n)
    # the truth of these sends, before they take effect
    uplift = {h: world.uplift_now(h) for h in SEND_HORIZONS}
    day_start = (world.day + 1) * DAY_S  # fallback send time: the start of the next simulated day
    log: list[tuple[str, str, int, bool, int]] = []
    u = rng.random((k, 12))
    delays = rng.exponential(1.0, (k, 6))
    pick = rng.integers(0, 1_000_000, (k, 3))
    noise = rng.normal(0.0, 0.9, k)
    nth = sent.groupby("message_id", sort=False).cumcount().to_numpy()
    open_scale = cfg.open_rate / 0.40
    for i, row in enumerate(sent.itertuples(index=False)):
        key, mid, email = str(row.send_key), str(row.message_id), str(row.email)
        t0 = day_start if pd.isna(row.sent_at) else epoch_seconds(row.sent_at)
        sg_mid = f"{mid}.filter0001.{nth[i]}"
        base = {
            "email": email,
            "sg_message_id": sg_mid,
            "send_key": key,
            "category": ["proactive", str(row.playbook)],
        }

        def ev(name: str, ts: int, _base: dict[str, Any] = base, _id: bool = True, **extra: Any) -> None:
            e = {**_base, "event": name, "timestamp": int(ts), **extra}
            if _id:
                e["sg_event_id"] = _event_id(cfg.seed, _base["sg_message_id"], name, ts, len(events))
            events.append(e)

        ev("processed", t0 + int(u[i, 0] * 5))
        events[-1]["smtp-id"] = f"<{mid}@example.net>"
        j = int(idx[i]) if known[i] else -1
        log.append((key, str(row.customer_id), t0, False, j))
        if j < 0:
            ev(
                "bounce",
                t0 + 5 + int(u[i, 1] * 60),
                reason="550 5.1.1 unknown user",
                status="5.1.1",
                type="bounce",
            )
            continue
        sup = int(c["sg_suppressed"][j])
        if sup:
            ev("dropped", t0 + 1, reason=DROP_REASONS[sup])
            continue
        if c["bad_address"][j]:
            c["sg_suppressed"][j] = 1
            ev(
                "bounce",
                t0 + 5 + int(u[i, 1] * 60),
                reason="550 5.1.1 The email account does not exist",
                status="5.1.1",
                type="bounce",
            )
            continue
        t_del = t0 + 5 + int(u[i, 1] * 300)
        ev("delivered", t_del, response="250 2.0.0 OK")
        rt = int(c["rtype"][j])
        # the effect on churn: from the day after sending, for effect_days
        sent_day = t0 // DAY_S
        c["treat_until"][j] = max(int(c["treat_until"][j]), int(sent_day + cfg.effect_days))
        c["emails"][j] += 1
        log[-1] = (key, str(row.customer_id), t0, True, j)
        opened = u[i, 2] < OPEN_P[rt] * open_scale
        t_open = t_del + 60 + int(delays[i, 0] * 4 * 3600)
        if opened:
            ev("open", t_open, useragent="Mozilla/5.0", ip="192.0.2.10", sg_machine_open=False)
            if u[i, 3] < 0.3:
                ev(
                    "open",
                    t_open + 600 + int(delays[i, 1] * 6 * 3600),
                    useragent="Mozilla/5.0",
                    ip="192.0.2.11",
                    sg_machine_open=False,
                )
            if u[i, 4] < cfg.click_given_open:
                ev(
                    "click",
                    t_open + 5 + int(delays[i, 2] * 120),
                    url="https://app.example.com/help",
                    url_offset={"index": 0, "type": "html"},
                    useragent="Mozilla/5.0",
                    ip="192.0.2.10",
                )
        t_act = t_open if opened else t_del + 3600 + int(delays[i, 3] * 6 * 3600)
        if u[i, 5] < cfg.unsubscribe_rate * UNSUB_F[rt]:
            c["sg_suppressed"][j] = 2
            c["unsubscribed"][j] = True
            if u[i, 6] < 0.7:
                ev("unsubscribe", t_act + 30, _id=False)
            else:
                ev("group_unsubscribe", t_act + 30, _id=False, asm_group_id=1)
        elif u[i, 7] < cfg.spam_rate * UNSUB_F[rt]:
            c["sg_suppressed"][j] = 3
            ev("spamreport", t_act + 20)
        if u[i, 8] < cfg.reply_rate * (1.5 if opened else 0.5):
            kind = int(np.searchsorted(np.cumsum(REPLY_MIX[rt]), u[i, 9] * 0.999999, side="right"))
            kind_name = text.REPLY_KINDS[kind]
            pool = text.REPLY_TEXTS[kind]
            auto = kind_name == "out_of_office"
            t_reply = t_del + 20 if auto else t_act + 120 + int(delays[i, 4] * 3600)
            if kind_name == "stop":
                c["stop_requested"][j] = True
            replies.append(
                {
                    "from": email,
                    "to": REPLY_TO,
                    "subject": ("Automatic reply: " if auto else "Re: ") + "your account",
                    "text": pool[int(pick[i, 0]) % len(pool)],
                    "send_key": key,
                    "timestamp": int(t_reply),
                    "headers": "Auto-Submitted: auto-replied\r\nX-Autoreply: yes" if auto else "",
                    "kind": kind_name,
                }
            )
        if u[i, 10] < cfg.rating_rate * (1.8 if opened else 0.45):
            score = int(np.clip(np.round(RATING_MEAN[rt] + noise[i]), 1, 5))
            ratings.append((key, score))
    world.record_sends(log, uplift)
    return {"events": events, "replies": replies, "ratings": ratings}
