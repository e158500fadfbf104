"""The contact policy: one engine for every playbook (pure functions over DataFrames).

Order of precedence (the first that applies wins):
1. consent and suppression always win: no ``marketing_consent``, a suppressed email hash or customer id
   (unsubscribed, bounced, spam-reported, erased, objected ...), or a cancelled account -> never contacted;
2. the global frequency cap across playbooks: at most one proactive contact per customer per ``cap_days``
   (a holdout decision counts as a virtual contact, so treatment and holdout stay comparable);
3. a randomized holdout by salted hash of the customer id: a global holdout (same customers for every playbook)
   plus a per-playbook holdout, recorded for every decision;
4. quiet hours in the customer's time zone: a send due in quiet hours is scheduled at the next allowed local hour.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from proactive_ml.identity import email_hash


def consented(value: object) -> bool:
    """Explicit consent only: True, 1 or "true". Missing (None, NaN, pd.NA) or anything else means no."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return False
    return bool(isinstance(value, (int, float, np.number)) and value == 1) or str(value).lower() == "true"


def declined(value: object) -> bool:
    """An explicit no to proactive contact: False, 0 or "false" (missing is not a no, and not a yes either)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return False
    return bool(isinstance(value, (int, float, np.number)) and value == 0) or str(value).lower() == "false"


def contact_block_reason(
    customers: pd.DataFrame, suppressed_hashes: set[str], suppressed_customers: set[str], as_of: datetime
) -> pd.Series:
    """Why each customer must not be contacted ('' if allowed): no_consent, suppressed, cancelled, no_email.

    ``customers`` needs customer_id, email, marketing_consent, cancelled_at, and optionally ``action``. An email
    needs an address and explicit consent. A CS task (``action`` cs_task: a person from the company reaches out)
    needs neither an address nor consent on record; an explicit no, a suppression (unsubscribed, erased) or a
    cancellation stops it as it stops an email.
    """
    given = customers["marketing_consent"]
    if pd.api.types.is_bool_dtype(given.dtype):  # True or False per row, or missing (no)
        consent = given.fillna(False).to_numpy(dtype=bool)
        said_no = (given == False).fillna(False).to_numpy(dtype=bool)  # noqa: E712 - elementwise, NA stays False
    else:
        consent = given.map(consented).to_numpy(dtype=bool)
        said_no = given.map(declined).to_numpy(dtype=bool)
    staff = np.zeros(len(customers), dtype=bool)
    if "action" in customers.columns:
        staff = (customers["action"] == "cs_task").to_numpy(dtype=bool)
    emails = customers["email"].fillna("").astype(str)
    if suppressed_hashes:  # no suppressed address, no address to hash (a SHA-256 per row)
        hashes = emails.map(lambda e: email_hash(e) if e else "")
        supp = hashes.isin(suppressed_hashes)
    else:
        supp = pd.Series(False, index=customers.index)
    supp |= customers["customer_id"].astype(str).isin(suppressed_customers)
    cancelled_at = pd.to_datetime(customers.get("cancelled_at"), errors="coerce")
    cancelled = (
        cancelled_at.notna() & (cancelled_at <= pd.Timestamp(as_of)) if cancelled_at is not None else False
    )
    reason = pd.Series("", index=customers.index, dtype=object)
    reason[(emails.str.strip() == "").to_numpy() & ~staff] = "no_email"
    reason[cancelled] = "cancelled"
    reason[np.where(staff, said_no, ~consent)] = "no_consent"
    reason[supp] = "suppressed"
    return reason


def frequency_capped(
    customer_ids: pd.Series, recent_contacts: pd.DataFrame, as_of: datetime, cap_days: int
) -> pd.Series:
    """True where the customer has a proactive contact less than ``cap_days`` away from ``as_of``.

    Before, or after: a backfill or out-of-order run must not squeeze a second email in.

    ``recent_contacts``: customer_id, as_of (date of the earlier decision). A contact on day D blocks D+1 ..
    D+cap_days-1; on D+cap_days the customer is eligible again.
    """
    if recent_contacts is None or recent_contacts.empty:
        return pd.Series(False, index=customer_ids.index)
    day = pd.Timestamp(as_of).normalize()
    since, until = day - pd.Timedelta(days=cap_days), day + pd.Timedelta(days=cap_days)
    rc = recent_contacts.assign(as_of=pd.to_datetime(recent_contacts["as_of"]))
    blocked = set(rc.loc[(rc["as_of"] > since) & (rc["as_of"] < until), "customer_id"].astype(str))
    return customer_ids.astype(str).isin(blocked)


def unit_hash(values: pd.Series, salt: str) -> np.ndarray:
    """A uniform number in [0, 1) per value from a salted SHA-256 (stable across runs and machines).

    The first 8 bytes of ``sha256(f"{salt}|{value}")``, big-endian, over 2**64. Text without missing values is
    hashed by DuckDB's SHA-256 in one vectorised pass (a million customers in a fraction of a second); anything
    else value by value, with the same digest.
    """
    if len(values) and pd.api.types.is_string_dtype(values) and not values.isna().any():
        return _unit_hash_vectorised(pa.array(values, type=pa.string(), from_pandas=True), salt)
    return np.fromiter((_unit_hash_one(str(v), salt) for v in values), dtype=float, count=len(values))


def _unit_hash_one(value: str, salt: str) -> float:
    d = hashlib.sha256(f"{salt}|{value}".encode()).digest()
    return int.from_bytes(d[:8], "big") / 2.0**64


def _unit_hash_vectorised(texts: pa.Array | pa.ChunkedArray, salt: str) -> np.ndarray:
    """:func:`unit_hash` of Arrow text: SHA-256 hex digests from DuckDB, their first 16 hex digits decoded here."""
    con = duckdb.connect()
    try:
        con.register("hash_input", pa.table({"v": texts}))
        sql = "SELECT substr(sha256($p || v), 1, 16) AS h FROM hash_input"
        digits = con.sql(sql, params={"p": f"{salt}|"}).to_arrow_table().column("h").combine_chunks()
    finally:
        con.close()
    digits = digits.cast(pa.string())
    offsets = np.frombuffer(
        digits.buffers()[1], dtype=np.int32, count=len(digits) + 1, offset=4 * digits.offset
    )
    if not np.array_equal(np.diff(offsets), np.full(len(digits), 16)):  # not packed back to back: copy them
        digits = pa.array(digits.to_pylist(), type=pa.string())
        offsets = np.arange(len(digits) + 1, dtype=np.int32) * 16
    raw = np.frombuffer(digits.buffers()[2], dtype=np.uint8, count=16 * len(digits), offset=int(offsets[0]))
    nibbles = np.where(raw >= ord("a"), raw - ord("a") + 10, raw - ord("0")).astype(np.uint64).reshape(-1, 16)
    number = np.zeros(len(digits), dtype=np.uint64)
    for i in range(16):
        number = (number << np.uint64(4)) | nibbles[:, i]
    return number.astype(np.float64) / 2.0**64


def assign_holdout(
    frame: pd.DataFrame, salt: str, global_share: float, playbook_share: float
) -> pd.DataFrame:
    """Columns arm ('treatment'|'holdout') and holdout_kind (None|'global'|'playbook') by salted hash.

    The global holdout depends on the customer only (the same customers are held out of every playbook); the
    playbook holdout on (playbook, customer).
    """
    g = unit_hash(frame["customer_id"], salt + "|global")
    p = unit_hash(frame["playbook"].astype(str) + "|" + frame["customer_id"].astype(str), salt + "|playbook")
    kind = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    kind[(g >= global_share) & (p < playbook_share)] = "playbook"
    kind[g < global_share] = "global"
    out = frame.copy()
    out["holdout_kind"] = kind
    out["arm"] = np.where(out["holdout_kind"].isna(), "treatment", "holdout")
    return out


def assign_variants(
    send_keys: pd.Series, playbooks: pd.Series, splits: dict[str, list[tuple[str, float]]], salt: str
) -> pd.Series:
    """The variant drawn for each decision: a salted hash of its send key against the playbook's split.

    ``splits``: playbook -> [(variant, weight)] with weights summing to 1. Random (a uniform hash, independent of the
    holdout's) and reproducible: a rerun draws the same variant. Playbooks without variants get None.
    """
    u = unit_hash(send_keys, salt + "|variant")
    out: list[str | None] = []
    for x, pb in zip(u, playbooks.astype(str), strict=True):
        choice, acc = None, 0.0
        for name, weight in splits.get(pb, []):
            choice, acc = name, acc + weight
            if x < acc:
                break
        out.append(choice)
    return pd.Series(out, index=send_keys.index, dtype=object)


WORKER_ROLES = ("agent", "lead")  # the roles that work customer-success tasks (admins do not)


def eligible_workers(people: pd.DataFrame | None) -> pd.DataFrame:
    """The people who may be assigned a task: active, role agent or lead; sorted by username (reruns agree)."""
    cols = ["username", "display_name"]
    if people is None or people.empty:
        return pd.DataFrame(columns=cols)
    active = people["active"].map(lambda a: a is True or str(a).lower() in ("true", "1"))
    ok = people[active.to_numpy() & people["role"].astype(str).isin(WORKER_ROLES).to_numpy()]
    return ok[cols].astype(str).sort_values("username", kind="mergesort").reset_index(drop=True)


def assign_workers(frame: pd.DataFrame, people: pd.DataFrame | None, salt: str) -> pd.Series:
    """Who would work each CS-task decision (a username), decided before the holdout draw, for both arms.

    The account's ``owner`` when it names an eligible person (their display name or username, case and spaces
    ignored); else a person drawn by salted hash of the customer id among the eligible (:func:`eligible_workers`),
    so a rerun draws the same person and the draw is independent of the holdout's. Each person's held-out
    customers are then a fair comparison for the customers they worked. Email decisions, and every decision
    when nobody is eligible, get None.
    """
    out = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    workers = eligible_workers(people)
    if workers.empty or frame.empty:
        return out
    key = {
        _name_key(v): u
        for u, d in zip(workers["username"], workers["display_name"], strict=True)
        for v in (d, u)
    }
    key.update({_name_key(u): u for u in workers["username"]})  # a username wins over another's display name
    owner = frame["owner"] if "owner" in frame.columns else pd.Series(None, index=frame.index, dtype=object)
    owned = owner.map(lambda o: key.get(_name_key(o)) if isinstance(o, str) else None)
    pick = np.floor(unit_hash(frame["customer_id"], salt + "|assignee") * len(workers)).astype(int)
    drawn = pd.Series(workers["username"].to_numpy()[pick], index=frame.index, dtype=object)
    chosen = owned.where(owned.notna(), drawn)
    tasks = frame["action"].astype(str) == "cs_task"
    out[tasks] = chosen[tasks]
    return out


def _name_key(name: object) -> str:
    """A name compared loosely: lower case, single spaces."""
    return " ".join(str(name).split()).lower()


def normalised_email(emails: pd.Series) -> pd.Series:
    """Addresses compared as one person: trimmed and lower-cased ('' when missing)."""
    return emails.fillna("").astype(str).str.strip().str.lower()


def one_per_address(frame: pd.DataFrame, recent_emails: set[str] | None = None) -> pd.Series:
    """True for the rows to drop so that each address (one person) gets one contact.

    Dropped: a customer id sharing a normalised address with a row before it (the caller orders rows best first),
    or an address contacted recently through another customer id (``recent_emails``, normalised).
    """
    addr = normalised_email(frame["email"])
    dup = addr.duplicated(keep="first") & (addr != "")
    if recent_emails:
        dup |= addr.isin(recent_emails) & (addr != "")
    return dup


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return ZoneInfo("UTC")


def in_quiet_hours(local_hour: int, start: int, end: int) -> bool:
    """True if ``local_hour`` is inside quiet hours [start, end) (wrapping midnight when start > end)."""
    if start == end:
        return False
    if start < end:
        return start <= local_hour < end
    return local_hour >= start or local_hour < end


def next_allowed_send(as_of: datetime, tz: str | None, start: int, end: int) -> datetime:
    """The earliest naive-UTC time >= ``as_of`` (naive UTC) outside quiet hours in time zone ``tz``."""
    zone = _zone(str(tz) if tz else "UTC")
    local = as_of.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
    if not in_quiet_hours(local.hour, start, end):
        return as_of
    target = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if target <= local:
        target = target + timedelta(days=1)
    # a wall-clock time that does not exist (DST gap) resolves forward through UTC arithmetic
    return target.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def schedule_send_at(as_of: datetime, timezones: pd.Series, start: int, end: int) -> pd.Series:
    """Send time per row: ``as_of`` unless that is in the customer's local quiet hours, then the next allowed hour."""
    cache: dict[str, datetime] = {}
    out = []
    for tz in timezones.fillna("UTC").astype(str):
        if tz not in cache:
            cache[tz] = next_allowed_send(as_of, tz, start, end)
        out.append(cache[tz])
    return pd.Series(pd.to_datetime(out), index=timezones.index)
