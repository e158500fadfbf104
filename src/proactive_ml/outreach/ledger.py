"""Storage edge of outreach: reads and writes of decisions, send_ledger, dead_letters and cs_tasks.

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
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from proactive_ml.csvsafe import write_csv
from proactive_ml.outreach.claims import PG_SESSION_SQL, new_token, owner_gone
from proactive_ml.warehouse import Warehouse

STATES = ("planned", "sending", "accepted", "failed", "dead_letter")
ADVISORY_LOCK_KEY = 5_807_311_001  # PostgreSQL advisory lock id for decision writes


def _in_list(keys: Sequence[str], prefix: str = "k") -> tuple[str, dict[str, str]]:
    params = {f"{prefix}{i}": k for i, k in enumerate(keys)}
    return ", ".join(f":{p}" for p in params), params


def recent_contacts(wh: Warehouse, as_of: date, cap_days: int) -> pd.DataFrame:
    """Decisions (either arm) less than ``cap_days`` away from as_of (before or after).

    Columns: customer_id, action, as_of, email (the customer's address: the cap also holds across customer ids
    sharing one).
    """
    return wh.query(
        "SELECT d.customer_id, d.action, d.as_of, c.email FROM decisions d "
        "LEFT JOIN customers c ON c.customer_id = d.customer_id WHERE d.as_of > :since AND d.as_of < :until",
        {"since": as_of - timedelta(days=cap_days), "until": as_of + timedelta(days=cap_days)},
    )


# the staged decisions of one day (see :func:`record_decisions`), as the inserts below read them
TASK_DUE_DAYS = 2  # a CS task is due this many days after its decision
_STAGED_COLUMNS = [
    *("send_key", "as_of", "customer_id", "playbook", "action", "arm", "holdout_kind"),  # the decision
    *("score", "uplift", "expected_value", "reasons", "send_at", "guidance", "priority"),  # its figures
    *(
        "variant",
        "assignee",
        "p_treat",
        "policy",
    ),  # who would work it; how likely treatment was, under which policy
]
# a decision is skipped when the customer has another decision less than the cap away (either side of as_of)
_INSERT_DECISIONS = """INSERT INTO decisions (send_key, as_of, customer_id, playbook, action, arm, holdout_kind, score,
                       uplift, expected_value, reasons, decided_at, variant, assignee, p_treat, policy)
                SELECT s.send_key, CAST(s.as_of AS DATE), s.customer_id, s.playbook, s.action, s.arm,
                       s.holdout_kind, s.score, s.uplift, s.expected_value, s.reasons, :now, s.variant,
                       s.assignee, s.p_treat, s.policy
                FROM {staged} s
                WHERE NOT EXISTS (SELECT 1 FROM decisions d WHERE d.customer_id = s.customer_id
                                  AND d.send_key <> s.send_key
                                  AND d.as_of > CAST(:since AS DATE) AND d.as_of < CAST(:until AS DATE))
                ON CONFLICT DO NOTHING"""
_INSERT_LEDGER = """INSERT INTO send_ledger (send_key, customer_id, playbook, window_start, state, message_id, attempts,
                       created_at, updated_at, send_at)
                SELECT s.send_key, s.customer_id, s.playbook, CAST(s.as_of AS DATE), 'planned', NULL, 0, :now, :now,
                       s.send_at
                FROM {staged} s JOIN decisions d ON d.send_key = s.send_key
                WHERE d.arm = 'treatment' AND d.action = 'email'
                ON CONFLICT DO NOTHING"""
_INSERT_TASKS = """INSERT INTO cs_tasks (task_id, as_of, customer_id, playbook, priority, expected_value, score, reasons,
                       guidance, state, created_at, assignee, due_date, updated_at)
                SELECT s.send_key, CAST(s.as_of AS DATE), s.customer_id, s.playbook, s.priority, s.expected_value,
                       s.score, s.reasons, s.guidance, 'open', :now, s.assignee, CAST(s.due_date AS DATE), :now
                FROM {staged} s JOIN decisions d ON d.send_key = s.send_key
                WHERE d.arm = 'treatment' AND d.action = 'cs_task'
                ON CONFLICT DO NOTHING"""


def _staged_decisions(
    decisions: pd.DataFrame, guidance: dict[str, str] | None, priorities: dict[str, int] | None
) -> pd.DataFrame:
    """The decisions as staged for the inserts: ISO day, null hold-out kinds, each playbook's guidance and priority."""
    df = decisions.copy()
    df["as_of"] = pd.to_datetime(df["as_of"]).dt.strftime("%Y-%m-%d")
    df["send_at"] = pd.to_datetime(df["send_at"])
    df["holdout_kind"] = df["holdout_kind"].astype(object).where(df["holdout_kind"].notna(), None)
    df["guidance"] = df["playbook"].map(lambda p: (guidance or {}).get(p, "")).astype(str)
    df["priority"] = df["playbook"].map(lambda p: (priorities or {}).get(p, 0)).astype("int64")
    df["uplift"] = pd.to_numeric(df["uplift"], errors="coerce").astype(float)
    for col in ("variant", "assignee", "policy"):
        if col not in df.columns:
            df[col] = None
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    if "p_treat" not in df.columns:
        df["p_treat"] = np.nan
    df["p_treat"] = pd.to_numeric(df["p_treat"], errors="coerce").astype(float)
    df["due_date"] = (pd.to_datetime(df["as_of"]) + pd.Timedelta(days=TASK_DUE_DAYS)).dt.strftime("%Y-%m-%d")
    return df[[*_STAGED_COLUMNS, "due_date"]]


def record_decisions(
    wh: Warehouse,
    decisions: pd.DataFrame,
    *,
    now: datetime,
    cap_days: int,
    guidance: dict[str, str] | None = None,
    priorities: dict[str, int] | None = None,
    daily_budget: int | None = None,
    max_tasks: int | None = None,
) -> dict[str, int]:
    """Write decisions, planned ledger rows (email treatment) and CS tasks (cs_task treatment) in ONE transaction.

    The frequency cap is enforced again here against committed rows: a decision is skipped if the customer has a
    decision with another send_key (any playbook, email or CS task, either arm) less than ``cap_days`` away.

    The day's budgets hold per day, not per run: a day's decisions are final, so a rerun of the same day (a retry,
    a backfill, a second scheduler) only adds decisions while the day's committed email decisions are fewer than
    ``daily_budget`` (CS tasks: ``max_tasks``), best expected value first. The count is taken inside the
    transaction (PostgreSQL: under the advisory lock), so concurrent runs cannot exceed it together either.

    Args:
        wh: The warehouse.
        decisions: The decisions of one day (``as_of``), both arms.
        now: The time written as decided/created.
        cap_days: The frequency cap in days.
        guidance: The CS guidance per playbook (tasks).
        priorities: The priority per playbook (tasks).
        daily_budget: Email decisions (both arms) allowed for the day in total; None: no limit.
        max_tasks: CS-task decisions allowed for the day in total; None: no limit.

    Returns:
        Counts of inserted rows: ``{"decisions", "ledger", "tasks"}``, plus ``over_day_budget`` (new decisions
        left out because the day's budget was already used) when a budget is given.

    Raises:
        ValueError: The decisions are of more than one day.
    """
    if decisions.empty:
        return {"decisions": 0, "ledger": 0, "tasks": 0}
    staged = _staged_decisions(decisions, guidance, priorities)
    as_of = pd.to_datetime(decisions["as_of"]).min().date()
    if pd.to_datetime(decisions["as_of"]).nunique() != 1:
        raise ValueError("record_decisions takes the decisions of one day")
    # the cap is symmetric: a contact less than cap_days before *or after* (an out-of-order or backfill run)
    p = {"now": now, "since": as_of - timedelta(days=cap_days), "until": as_of + timedelta(days=cap_days)}
    over = 0
    with wh.transaction():
        if wh.backend == "postgres":
            wh.execute(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})")
        if daily_budget is not None or max_tasks is not None:
            budgets = {"email": daily_budget, "cs_task": max_tasks}
            kept = _within_day_budget(wh, staged, as_of, p, budgets)
            over, staged = len(staged) - len(kept), kept
        with wh.staged(staged, "outreach_staged") as t:
            n_dec = wh.execute(_INSERT_DECISIONS.format(staged=t), p)
            n_led = wh.execute(_INSERT_LEDGER.format(staged=t), {"now": now})
            n_task = wh.execute(_INSERT_TASKS.format(staged=t), {"now": now})
    out = {"decisions": max(n_dec, 0), "ledger": max(n_led, 0), "tasks": max(n_task, 0)}
    if daily_budget is not None or max_tasks is not None:
        out["over_day_budget"] = over
    return out


def _within_day_budget(
    wh: Warehouse,
    staged: pd.DataFrame,
    as_of: date,
    window: dict[str, object],
    budgets: dict[str, int | None],
) -> pd.DataFrame:
    """The staged rows that fit in what is left of the day's budgets (call inside the decisions' transaction).

    Rows already recorded (same send_key) stay (their insert is a no-op) and rows the frequency cap will skip are
    not counted; of the new rows, the best expected values are kept while the day's committed decisions of their
    action are fewer than the budget.
    """
    near = wh.query(
        "SELECT send_key, customer_id, as_of, action FROM decisions "
        "WHERE as_of > CAST(:since AS DATE) AND as_of < CAST(:until AS DATE)",
        {"since": window["since"], "until": window["until"]},
    )
    known = set(near["send_key"].astype(str))
    contacted = set(near["customer_id"].astype(str))
    same_day = near[pd.to_datetime(near["as_of"]).dt.date == as_of]
    used = same_day["action"].astype(str).value_counts().to_dict()
    is_known = staged["send_key"].astype(str).isin(known)
    fresh = staged[~is_known & ~staged["customer_id"].astype(str).isin(contacted)]
    fresh = fresh.sort_values(["expected_value", "customer_id"], ascending=[False, True], kind="mergesort")
    keep = [fresh.index[:0]]
    for action, rows in fresh.groupby("action", sort=False):
        budget = budgets.get(str(action))
        left = len(rows) if budget is None else max(int(budget) - int(used.get(action, 0)), 0)
        keep.append(rows.index[:left])
    idx = staged.index[is_known].append(keep)
    return staged.loc[staged.index.isin(idx)]


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


def export_tasks(wh: Warehouse, path: str, as_of: date | None = None) -> int:
    """Write the CS tasks (open ones, optionally of one day) to a CSV a person can open; returns the row count."""
    sql = (
        "SELECT t.task_id, t.as_of, t.customer_id, c.name AS contact_name, c.plan, c.monthly_revenue, t.playbook, "
        "t.priority, t.expected_value, t.score, t.reasons, t.guidance, t.state, t.created_at FROM cs_tasks t "
        "LEFT JOIN customers c ON c.customer_id = t.customer_id WHERE t.state = 'open'"
    )
    params: dict[str, object] = {}
    if as_of is not None:
        sql += " AND t.as_of = :d"
        params["d"] = as_of
    df = wh.query(sql + " ORDER BY t.as_of, t.priority, t.expected_value DESC", params)
    write_csv(df, path)
    return len(df)
