"""Storage edge of delivery's bookkeeping: the send_ledger's states, claims, dead letters and reconciliation.

The day's decisions, their planned ledger rows and CS tasks are written by :mod:`proactive_ml.outreach.decisions`.

The tables are declared in ``proactive_ml.warehouse.schema`` (DuckDB and PostgreSQL).

Exactly once comes from constraints, not from an orchestrator's cache:
- ``send_key`` (customer, playbook, window) is the PRIMARY KEY of decisions and of send_ledger; both are written
  in ONE transaction before any API call (state 'planned'); reruns and overlapping runs insert nothing new
  (``ON CONFLICT DO NOTHING``).
- the frequency cap is re-checked inside that transaction against committed decisions (PostgreSQL: under a
  transaction-scoped advisory lock, so concurrent runs serialise their decision writes);
- a sender claims rows atomically (planned -> sending with a claim token and time; only rows still 'planned'
  change, so two senders never claim the same row), then marks them accepted (with ``X-Message-Id``),
  dead_letter or back to planned;
- rows left in 'sending' by a crash are reconciled against what the server accepted before any re-send: at once
  when the claim's sender is known dead (:mod:`proactive_ml.outreach.claims`), else after the stale timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import pandas as pd

from proactive_ml.outreach.claims import PG_SESSION_SQL, new_token, owner_gone
from proactive_ml.warehouse import Warehouse

STATES = ("planned", "sending", "accepted", "failed", "dead_letter")


def _in_list(keys: Sequence[str], prefix: str = "k") -> tuple[str, dict[str, str]]:
    params = {f"{prefix}{i}": k for i, k in enumerate(keys)}
    return ", ".join(f":{p}" for p in params), params


def claim(
    wh: Warehouse,
    *,
    playbook: str,
    now: datetime,
    limit: int,
    token: str | None = None,
    stamp: datetime | None = None,
) -> tuple[str, list[str]]:
    """Atomically move up to ``limit`` 'planned' rows of ``playbook`` due at ``now`` to 'sending'.

    Due means ``send_at <= now``. The rows get a new claim token, stamped ``claimed_at = stamp`` (the sender's
    clock; default ``now``).

    Candidates are read first (PostgreSQL: locked with ``FOR UPDATE SKIP LOCKED`` in the same transaction), then
    updated by their key range with ``AND state = 'planned'``: only rows still planned change, whatever another
    sender does at the same time. (A one-statement ``UPDATE .. FROM (SELECT .. LIMIT n FOR UPDATE SKIP LOCKED)``
    can be re-scanned by PostgreSQL's nested loop and claim more than n rows.) Returns (token, keys).
    """
    token = token or new_token(_session(wh))
    lock = " FOR UPDATE SKIP LOCKED" if wh.backend == "postgres" else ""
    for _ in range(20):  # a concurrent sender may win every candidate: look again (bounded)
        with wh.transaction():
            cand = wh.query(
                f"""SELECT send_key FROM send_ledger WHERE state = 'planned' AND playbook = :pb
                    AND (send_at IS NULL OR send_at <= :now) ORDER BY send_key LIMIT :lim{lock}""",
                {"pb": playbook, "now": now, "lim": int(limit)},
            )["send_key"].tolist()
            if not cand:
                return token, []
            # the candidates are the first keys in order: claim by key range (no 1000-parameter IN list)
            wh.execute(
                """UPDATE send_ledger SET state = 'sending', claim_token = :tok, claimed_at = :stamp,
                       updated_at = :stamp, attempts = attempts + 1
                   WHERE state = 'planned' AND playbook = :pb AND send_key >= :lo AND send_key <= :hi
                     AND (send_at IS NULL OR send_at <= :now)""",
                {
                    "tok": token,
                    "stamp": stamp or now,
                    "now": now,
                    "pb": playbook,
                    "lo": cand[0],
                    "hi": cand[-1],
                },
            )
        keys = wh.query(
            "SELECT send_key FROM send_ledger WHERE claim_token = :tok AND state = 'sending' "
            "ORDER BY send_key",
            {"tok": token},
        )["send_key"].tolist()
        if keys:
            return token, keys
    return token, []


def _session(wh: Warehouse) -> str:
    """This connection's PostgreSQL session as claim tokens name it ('' on DuckDB: one process owns the file)."""
    if wh.backend != "postgres":
        return ""
    return str(wh.scalar(f"SELECT {PG_SESSION_SQL} FROM pg_stat_activity WHERE pid = pg_backend_pid()") or "")


def _live_sessions(wh: Warehouse) -> set[str] | None:
    """Live PostgreSQL sessions; None (unknown) if some are hidden from this role, or on DuckDB."""
    if wh.backend != "postgres":
        return None
    s = wh.query(f"SELECT {PG_SESSION_SQL} AS s FROM pg_stat_activity")["s"]
    return None if s.isna().any() else set(s.astype(str))


def due_playbooks(wh: Warehouse, now: datetime) -> list[str]:
    """Playbooks with planned rows due at ``now``."""
    return wh.query(
        "SELECT DISTINCT playbook FROM send_ledger WHERE state = 'planned' AND (send_at IS NULL OR send_at <= :now) "
        "ORDER BY playbook",
        {"now": now},
    )["playbook"].tolist()


def claimed_rows(wh: Warehouse, token: str) -> pd.DataFrame:
    """What rendering needs for claimed rows.

    Columns: send_key, customer_id, playbook, email, name, reasons, marketing_consent, cancelled_at, variant.
    """
    return wh.query(
        """SELECT l.send_key, l.customer_id, l.playbook, c.email, c.name, d.reasons, c.marketing_consent,
                  c.cancelled_at, d.variant
           FROM send_ledger l JOIN decisions d ON d.send_key = l.send_key
           LEFT JOIN customers c ON c.customer_id = l.customer_id
           WHERE l.claim_token = :tok AND l.state = 'sending' ORDER BY l.send_key""",
        {"tok": token},
    )


def _update_keys(
    wh: Warehouse, keys: Sequence[str], set_sql: str, params: dict[str, object], where: str = ""
) -> int:
    n = 0
    for i in range(0, len(keys), 1000):
        chunk = list(keys[i : i + 1000])
        inl, kp = _in_list(chunk)
        n += max(
            wh.execute(
                f"UPDATE send_ledger SET {set_sql} WHERE send_key IN ({inl}){where}", {**params, **kp}
            ),
            0,
        )
    return n


def mark_accepted(
    wh: Warehouse,
    keys: Sequence[str],
    message_id: str | None,
    now: datetime,
    token: str | None = None,
    whole_claim: bool = False,
) -> int:
    """Sending -> accepted with the request's X-Message-Id.

    Only rows of this claim when ``token`` is given; ``whole_claim``: every row of the claim, ``keys`` being all of
    them.
    """
    if whole_claim and token:
        return max(
            wh.execute(
                "UPDATE send_ledger SET state = 'accepted', message_id = :mid, updated_at = :now, "
                "last_error = NULL WHERE claim_token = :tok AND state = 'sending'",
                {"mid": message_id, "now": now, "tok": token},
            ),
            0,
        )
    where = " AND state = 'sending'" + (" AND claim_token = :tok" if token else "")
    return _update_keys(
        wh,
        keys,
        "state = 'accepted', message_id = :mid, updated_at = :now, last_error = NULL",
        {"mid": message_id, "now": now, "tok": token},
        where,
    )


def release(wh: Warehouse, keys: Sequence[str], now: datetime, error: str, token: str | None = None) -> int:
    """Sending -> planned (a later attempt may send them; nothing was accepted)."""
    where = " AND state = 'sending'" + (" AND claim_token = :tok" if token else "")
    return _update_keys(
        wh,
        keys,
        "state = 'planned', claim_token = NULL, claimed_at = NULL, updated_at = :now, last_error = :err",
        {"now": now, "err": error[:500], "tok": token},
        where,
    )


def mark_failed(wh: Warehouse, keys: Sequence[str], now: datetime, error: str) -> int:
    """sending/planned -> failed (never sent; e.g. suppressed between decision and send, or retries exhausted)."""
    return _update_keys(
        wh,
        keys,
        "state = 'failed', updated_at = :now, last_error = :err",
        {"now": now, "err": error[:500]},
        " AND state IN ('sending', 'planned')",
    )


def dead_letter(wh: Warehouse, rows: Sequence[tuple[str, str, str, int | None, str]], now: datetime) -> int:
    """Record refused/rejected messages (send_key, customer_id, playbook, status_code, reason) and mark them."""
    if not rows:
        return 0
    with wh.transaction():
        for sk, cid, pb, status, reason in rows:
            wh.execute(
                "INSERT INTO dead_letters (send_key, customer_id, playbook, status_code, reason, created_at) "
                "VALUES (:sk, :c, :p, :s, :r, :now) ON CONFLICT DO NOTHING",
                {"sk": sk, "c": cid, "p": pb, "s": status, "r": reason[:1000], "now": now},
            )
        _update_keys(
            wh,
            [r[0] for r in rows],
            "state = 'dead_letter', updated_at = :now, last_error = :err",
            {"now": now, "err": "dead_letter"},
            " AND state IN ('sending', 'planned')",
        )
    return len(rows)


def stuck_sending(wh: Warehouse, older_than: datetime) -> pd.DataFrame:
    """Rows in 'sending' of a crashed or timed-out sender.

    Claimed at or before ``older_than``, or claimed by a sender known to be dead (its process on this host, or its
    PostgreSQL session, is gone): those at once.
    Column ``dead_owner`` tells which rows are stuck because their sender is gone.
    """
    rows = wh.query(
        "SELECT send_key, claim_token, claimed_at FROM send_ledger WHERE state = 'sending' ORDER BY send_key"
    )
    live = _live_sessions(wh) if len(rows) else None
    gone = {t: owner_gone(t, live) for t in rows["claim_token"].dropna().unique()}
    rows["dead_owner"] = rows["claim_token"].map(lambda t: gone.get(t, False)).astype(bool)
    old = pd.to_datetime(rows["claimed_at"]) <= pd.Timestamp(older_than)
    return rows[old.to_numpy() | rows["dead_owner"].to_numpy()].reset_index(drop=True)


def reconcile(
    wh: Warehouse,
    lookup: Callable[[list[str]], dict[str, str]],
    *,
    now: datetime,
    stale_after: timedelta,
    release_missing: bool = True,
) -> dict[str, int]:
    """Resolve rows stuck in 'sending'.

    Accepted at the server -> accepted (with its message id); known not to be there -> back to planned.
    ``lookup(keys) -> {send_key: message_id}`` must be authoritative for the keys it is asked about (the local
    sink's accepted log). With ``release_missing=False`` (production: events prove acceptance, their absence proves
    nothing yet) keys not found stay 'sending' for a person or a later pass.
    """
    stuck = stuck_sending(wh, now - stale_after)
    out = {
        "reconciled_accepted": 0,
        "reconciled_released": 0,
        "reconciled_dead_sender": int(stuck["dead_owner"].sum()) if len(stuck) else 0,
    }
    if stuck.empty:
        return out
    for token, grp in stuck.groupby("claim_token", dropna=False):
        keys = grp["send_key"].tolist()
        found = lookup(keys)
        by_mid: dict[str, list[str]] = {}
        for k in keys:
            if k in found:
                by_mid.setdefault(found[k], []).append(k)
        tok = None if pd.isna(token) else str(token)
        for mid, ks in by_mid.items():
            out["reconciled_accepted"] += mark_accepted(wh, ks, mid, now, tok)
        missing = [k for k in keys if k not in found]
        if not release_missing:
            continue
        out["reconciled_released"] += release(wh, missing, now, "reconciled: not accepted by server", tok)
    return out


def ledger_counts(wh: Warehouse) -> dict[str, int]:
    """Rows per ledger state."""
    df = wh.query("SELECT state, count(*) AS n FROM send_ledger GROUP BY state")
    return {str(s): int(n) for s, n in zip(df["state"], df["n"], strict=False)}
