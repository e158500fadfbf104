"""Erase one customer (GDPR Art. 17): suppress forever by address hash, then remove their personal data everywhere.

What is kept, and why: the suppression row (SHA-256 of the normalised address, the customer id, reason
``erased``, time), so a re-import of the same address can never be contacted again; and the pseudonymous ledger
(``decisions``, ``send_ledger``, ``cs_tasks``, event and rating rows keyed by send key and customer id, with no
address, name or text), which proves what was decided and sent and that consent, suppression and the erasure
were honoured.

What goes:
- warehouse: the customer's address and name (``customers``), free text (feedback comments, ticket subjects,
  reply subjects and bodies, attribute texts), error texts that may quote the address (``dead_letters``,
  ``send_ledger.last_error``, event reasons and URLs), quarantined rows holding the customer's raw data; then
  every text column of every table is swept for the address (case-insensitive) as a last net;
- the receiver's raw store (``receiver.sqlite3``): the customer's inbound replies are emptied, the address is
  cut out of batched webhook bodies; SQLite's secure delete and a VACUUM leave no old copy in free pages;
- files under the data folder (landing copies, reports, Data Docs, the local mail sink's outbox): messages to the
  customer are deleted, and the address and name are cut out of every other text file; a landing file that
  changed keeps its place in ``ingest_log`` (its new hash), so it is not loaded again;
- an embedded DuckDB warehouse is then rewritten into a fresh file (:func:`compact_duckdb`), since DuckDB does
  not wipe freed blocks. (PostgreSQL: old row versions go with the next VACUUM, as the database's own policy.)
"""

from __future__ import annotations

import hashlib
import mmap
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, quote_plus

from proactive_ml.errors import UserError
from proactive_ml.identity import email_hash
from proactive_ml.responses.store import raw_store_path
from proactive_ml.responses.suppressions import add_suppression
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse

ERASED = "<erased>"
_TEXT_TYPES = ("VARCHAR", "TEXT", "CHARACTER VARYING")
_SKIP_SUFFIXES = (".duckdb", ".wal", ".sqlite3", ".sqlite3-wal", ".sqlite3-shm", ".db", ".db-wal", ".db-shm")
_MESSAGE_SUFFIXES = (".eml", ".html", ".txt")
# customer-linked columns holding personal data: table -> (SET clause, WHERE clause on :c, :h)
_LINKED = {
    "customers": ("email = NULL, name = NULL, marketing_consent = FALSE", "customer_id = :c"),
    "feedback": ("comment = NULL", "customer_id = :c"),
    "tickets": ("subject = NULL", "customer_id = :c"),
    "replies": ("subject = NULL, body_text = NULL", "customer_id = :c OR email_sha256 = :h"),
    "email_events": ("url = NULL, reason = NULL", "customer_id = :c OR email_sha256 = :h"),
    "dead_letters": (f"reason = '{ERASED}'", "customer_id = :c"),
    "send_ledger": ("last_error = NULL", "customer_id = :c"),
    "customer_attributes": ("value_text = NULL", "customer_id = :c"),
}


@dataclass
class Erasure:
    """What one erasure changed, per place (counts of rows or files)."""

    customer_id: str
    suppressed: bool = False
    rows: dict[str, int] = field(default_factory=dict)
    raw_requests: int = 0
    files_scrubbed: int = 0
    files_deleted: int = 0

    def summary(self) -> dict[str, object]:
        """A JSON-friendly summary (no personal data: counts only)."""
        return {
            "customer_id": self.customer_id,
            "suppressed": self.suppressed,
            "warehouse_rows": {k: v for k, v in self.rows.items() if v},
            "raw_requests": self.raw_requests,
            "files_scrubbed": self.files_scrubbed,
            "files_deleted": self.files_deleted,
        }


def _identity(wh: Warehouse, customer_id: str) -> tuple[list[str], list[str]]:
    """The customer's addresses and names as stored (a customer may have had more than one)."""
    df = wh.query("SELECT email, name FROM customers WHERE customer_id = :c", {"c": customer_id})
    if df.empty:
        raise UserError(f"no customer {customer_id!r} in the warehouse: nothing to erase (check the id)")
    emails = sorted({str(e).strip() for e in df["email"].dropna() if str(e).strip()})
    names = sorted({str(n).strip() for n in df["name"].dropna() if len(str(n).strip()) >= 3})
    return emails, names


def _email_forms(emails: list[str]) -> list[str]:
    """The addresses as written, URL-encoded and form-encoded (longest first, for one alternation)."""
    forms = {f for e in emails for f in (e, quote(e, safe=""), quote_plus(e, safe=""))}
    return sorted(forms, key=len, reverse=True)


def erase_customer(wh: Warehouse, settings: Settings, customer_id: str, *, now: datetime) -> Erasure:
    """Suppress ``customer_id`` forever and remove their personal data from the warehouse, raw store and files.

    Args:
        wh: The warehouse.
        settings: Where the data folder is (raw store, landing copies, reports, outbox).
        customer_id: The customer to erase.
        now: The time recorded on the suppression.

    Returns:
        What was changed, as counts.

    Raises:
        UserError: No such customer.
    """
    emails, names = _identity(wh, customer_id)
    out = Erasure(customer_id)
    with wh.transaction():
        for e in emails:
            add_suppression(wh, email=e, customer_id=customer_id, reason="erased", source="erase", at=now)
        out.suppressed = bool(emails)
        # no address known: suppress the customer id itself (the policy also blocks by customer id)
        if not emails:
            add_suppression(
                wh,
                email_sha256=f"erased:{customer_id}",
                customer_id=customer_id,
                reason="erased",
                source="erase",
                at=now,
            )
        out.rows = _scrub_warehouse(wh, customer_id, emails)
    forms = _email_forms(emails)
    out.raw_requests = _scrub_raw_store(wh, settings, customer_id, forms, names)
    out.files_scrubbed, out.files_deleted = _scrub_files(wh, settings, forms, names)
    return out


def _scrub_warehouse(wh: Warehouse, customer_id: str, emails: list[str]) -> dict[str, int]:
    """Null the customer's personal columns, drop their quarantined rows, sweep every text column for the address."""
    h = email_hash(emails[0]) if emails else ""
    p = {"c": customer_id, "h": h}
    rows = {
        t: max(wh.execute(f"UPDATE {t} SET {s} WHERE {w}", {k: v for k, v in p.items() if f":{k}" in w}), 0)
        for t, (s, w) in _LINKED.items()
    }
    likes = [f'%"{customer_id}"%'] + [f"%{e.lower()}%" for e in emails]
    rows["quarantine"] = sum(
        max(wh.execute("DELETE FROM quarantine WHERE lower(raw_row) LIKE :l", {"l": like.lower()}), 0)
        for like in likes
    )
    if not emails:
        return rows
    cols = wh.query(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND upper(data_type) IN ('VARCHAR', 'TEXT', 'CHARACTER VARYING')"
    )
    pattern = "|".join(re.escape(e) for e in emails)
    for t, c in zip(cols["table_name"], cols["column_name"], strict=True):
        for e in emails:
            n = wh.execute(
                f"UPDATE {t} SET {c} = regexp_replace({c}, :pat, :rep, 'gi') WHERE lower({c}) LIKE :like",
                {"pat": pattern, "rep": ERASED, "like": f"%{e.lower()}%"},
            )
            rows[t] = rows.get(t, 0) + max(n, 0)
    return rows


def _scrub_raw_store(
    wh: Warehouse, settings: Settings, customer_id: str, forms: list[str], names: list[str]
) -> int:
    """Empty the customer's inbound replies and cut the address out of other stored requests; no old copy stays."""
    path = raw_store_path(settings)
    if not path.exists():
        return 0
    linked = set()
    for t in ("replies", "ratings", "email_events"):
        df = wh.query(
            f"SELECT raw_id FROM {t} WHERE customer_id = :c AND raw_id IS NOT NULL", {"c": customer_id}
        )
        linked |= {int(x) for x in df["raw_id"]}
    rx = _text_regex(forms, names)
    rxb = re.compile(rx.pattern.encode("utf-8"), re.IGNORECASE)
    # candidates only (the store can be large): linked rows, and rows whose body or headers hold a needle
    needles = sorted({f.lower() for f in [*forms, *names]})
    where = " OR ".join(
        ["instr(lower(CAST(body AS TEXT)), ?) > 0 OR instr(lower(headers), ?) > 0"] * len(needles)
    )
    args: list[object] = [x for n in needles for x in (n, n)]
    if linked:
        where = " OR ".join(filter(None, [where, f"id IN ({','.join('?' * len(linked))})"]))
        args += sorted(linked)
    if not where:
        return 0
    n = 0
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("BEGIN IMMEDIATE")
        sql = f"SELECT id, kind, headers, body FROM raw_requests WHERE {where}"
        for rid, kind, headers, body in conn.execute(sql, args).fetchall():
            if rid in linked and kind == "inbound":
                new_body, new_headers = b"", "{}"
            else:
                new_body, new_headers = rxb.sub(ERASED.encode(), bytes(body)), rx.sub(ERASED, str(headers))
                if new_body == bytes(body) and new_headers == headers:
                    continue
            conn.execute(
                "UPDATE raw_requests SET body = ?, headers = ?, note = 'personal data erased' WHERE id = ?",
                (sqlite3.Binary(new_body), new_headers, rid),
            )
            n += 1
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
    finally:
        conn.close()
    return n


def _text_regex(forms: list[str], names: list[str]) -> re.Pattern[str]:
    """One case-insensitive regex for the address forms and the names (names as whole words)."""
    parts = [re.escape(f) for f in forms] + [rf"\b{re.escape(n)}\b" for n in names]
    return re.compile("|".join(parts) or r"(?!x)x", re.IGNORECASE)


def compact_duckdb(url: str) -> bool:
    """Rewrite an embedded DuckDB warehouse into a fresh file, so no erased value stays in its free blocks.

    DuckDB reuses freed blocks but does not wipe them: after an erasure the old values would stay readable in the
    file. Call with no connection open (the file is replaced). Returns False for a non-DuckDB URL or in-memory.
    """
    if not url.startswith("duckdb:///") or url.endswith(":memory:"):
        return False
    import duckdb

    path = Path(url[len("duckdb:///") :])
    fresh = path.with_name(path.name + ".compact")
    fresh.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    try:
        src = con.execute("SELECT current_database()").fetchone()
        con.execute(f"ATTACH '{fresh}' AS erasure_fresh")
        con.execute(f'COPY FROM DATABASE "{src[0] if src else path.stem}" TO erasure_fresh')
        con.execute("DETACH erasure_fresh")
    finally:
        con.close()
    fresh.replace(path)
    Path(str(path) + ".wal").unlink(missing_ok=True)
    return True


def _delete_message(path: Path) -> int:
    """Delete one outbox message (``<id>.<n>.eml`` and its ``.html``/``.txt`` siblings); the files deleted."""
    n = 0
    for sibling in (path.with_suffix(s) for s in _MESSAGE_SUFFIXES):
        if sibling.exists():
            sibling.unlink()
            n += 1
    return n


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _holds(path: Path, rx: re.Pattern[bytes]) -> bool:
    """True for a text file (no NUL byte in its first 8 KiB) in which ``rx`` matches; read by memory map."""
    if path.stat().st_size == 0:
        return False
    with path.open("rb") as f:
        if b"\0" in f.read(8192):
            return False  # binary (models, Parquet): not rewritten byte-wise
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return rx.search(m) is not None  # type: ignore[call-overload]


def _rewrite(wh: Warehouse, path: Path, rx: re.Pattern[bytes]) -> None:
    """Replace every match by ``<erased>`` line by line (memory stays bounded); keep the file's ingest_log entry."""
    old = _sha256(path)
    tmp = path.with_name(path.name + ".erasing")
    with path.open("rb") as src, tmp.open("wb") as dst:
        for line in src:
            dst.write(rx.sub(ERASED.encode(), line))
    tmp.replace(path)
    wh.execute(
        "UPDATE ingest_log SET file_sha256 = :new WHERE file_sha256 = :old",
        {"new": _sha256(path), "old": old},
    )


def _scrub_files(wh: Warehouse, settings: Settings, forms: list[str], names: list[str]) -> tuple[int, int]:
    """Cut the address and name out of every text file under the data folder; delete messages sent to them."""
    root = Path(settings.data_dir)
    if not root.exists() or not (forms or names):
        return 0, 0
    rx = re.compile(_text_regex(forms, names).pattern.encode("utf-8"), re.IGNORECASE)
    outbox = Path(settings.outbox_dir).resolve()
    raw_store = raw_store_path(settings).resolve()
    scrubbed = deleted = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        skip = path.name.endswith(_SKIP_SUFFIXES) or path.resolve() == raw_store
        if skip or not path.exists() or not _holds(path, rx):  # (a message's sibling may be deleted already)
            continue
        if outbox in path.resolve().parents and path.suffix in _MESSAGE_SUFFIXES:
            deleted += _delete_message(path)  # a message sent to this person, in all its forms
            continue
        _rewrite(wh, path, rx)
        scrubbed += 1
    return scrubbed, deleted
