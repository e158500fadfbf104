"""Storage edge of the feedback loop.

Two stores, on purpose:

* :class:`RawStore` - the receiver's own append-only log of every accepted HTTP request (raw bytes + headers),
  a SQLite file in WAL mode with ``synchronous=FULL`` (each commit is fsync'ed before the receiver answers 2xx).
  SQLite lets the receiver process write while the responses flow (another process) reads and marks rows, which
  an embedded DuckDB warehouse (one writer process) would not. Table ``raw_requests``.
* warehouse tables ``email_events``, ``replies``, ``ratings``, ``response_quarantine`` and ``impact_history``
  (declared in ``proactive_ml.warehouse.schema``), written by the responses flow and impact, on DuckDB or
  PostgreSQL.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse

RAW_STORE_FILENAME = "receiver.sqlite3"

RAW_DDL = """CREATE TABLE IF NOT EXISTS raw_requests (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,              -- events | inbound | unsubscribe | rating
  path TEXT NOT NULL,
  headers TEXT NOT NULL,           -- JSON object (lower-cased names)
  body BLOB NOT NULL,
  received_at TEXT NOT NULL,       -- ISO, naive UTC
  status TEXT NOT NULL DEFAULT 'new',   -- new | processed | quarantined
  note TEXT,
  processed_at TEXT
)"""


def raw_store_path(settings: Settings) -> Path:
    """Where the receiver keeps its raw request log (``<data_dir>/receiver.sqlite3``)."""
    return Path(settings.data_dir) / RAW_STORE_FILENAME  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RawRequest:
    """One stored request."""

    id: int
    kind: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: datetime
    status: str
    note: str | None


class RawStore:
    """Append-only, fsync'ed log of accepted requests (SQLite WAL). Thread-safe; safe across processes."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            conn = self._conn()
            conn.execute(RAW_DDL)
            conn.execute("CREATE INDEX IF NOT EXISTS raw_requests_status ON raw_requests (status, id)")
            conn.commit()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # fsync at every commit: durable before we answer 2xx
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def append(
        self,
        kind: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        received_at: datetime,
        status: str = "new",
        note: str | None = None,
    ) -> int:
        """Store one request durably and return its id (raises on any storage problem: answer 5xx then)."""
        hdrs = json.dumps({k.lower(): v for k, v in headers.items()}, ensure_ascii=True)
        with self._lock:
            cur = self._conn().execute(
                "INSERT INTO raw_requests (kind, path, headers, body, received_at, status, note) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (kind, path, hdrs, sqlite3.Binary(body), received_at.isoformat(), status, note),
            )
            return int(cur.lastrowid or 0)

    def pending(self, limit: int = 10_000, kinds: tuple[str, ...] | None = None) -> list[RawRequest]:
        """Requests not processed yet, oldest first."""
        sql = "SELECT id, kind, path, headers, body, received_at, status, note FROM raw_requests WHERE status = 'new'"
        args: list[object] = []
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args.extend(kinds)
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._conn().execute(sql, args).fetchall()
        return [_row(r) for r in rows]

    def all(self) -> list[RawRequest]:
        """Every stored request (tests, forensics)."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    "SELECT id, kind, path, headers, body, received_at, status, note FROM raw_requests ORDER BY id"
                )
                .fetchall()
            )
        return [_row(r) for r in rows]

    def mark(self, ids: list[int], status: str, at: datetime, note: str | None = None) -> None:
        """Mark requests processed or quarantined (with a reason)."""
        if not ids:
            return
        with self._lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "UPDATE raw_requests SET status = ?, note = COALESCE(?, note), processed_at = ? WHERE id = ?",
                    [(status, note, at.isoformat(), i) for i in ids],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def counts(self) -> pd.DataFrame:
        """Rows per (kind, status)."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    "SELECT kind, status, count(*) FROM raw_requests GROUP BY kind, status ORDER BY kind, status"
                )
                .fetchall()
            )
        return pd.DataFrame(rows, columns=["kind", "status", "n"])

    def count(self, kind: str | None = None) -> int:
        """Number of stored requests (of one kind)."""
        with self._lock:
            if kind:
                return int(
                    self._conn()
                    .execute("SELECT count(*) FROM raw_requests WHERE kind = ?", (kind,))
                    .fetchone()[0]
                )
            return int(self._conn().execute("SELECT count(*) FROM raw_requests").fetchone()[0])

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _row(r: tuple) -> RawRequest:
    return RawRequest(
        id=int(r[0]),
        kind=r[1],
        path=r[2],
        headers=json.loads(r[3]),
        body=bytes(r[4]),
        received_at=datetime.fromisoformat(r[5]),
        status=r[6],
        note=r[7],
    )


# ------------------------------------------------------------------ warehouse reads used by the feedback loop
def send_lookup(wh: Warehouse) -> pd.DataFrame:
    """send_key -> customer_id, playbook, message_id, email (from ``send_ledger``/``decisions``/``customers``)."""
    return wh.query(
        """SELECT s.*, c.email FROM (
             SELECT send_key, customer_id, playbook, message_id FROM send_ledger
             UNION ALL
             SELECT send_key, customer_id, playbook, NULL AS message_id FROM decisions
             WHERE send_key NOT IN (SELECT send_key FROM send_ledger)
           ) s LEFT JOIN customers c ON c.customer_id = s.customer_id"""
    )


def customer_emails(wh: Warehouse, customer_ids: list[str]) -> dict[str, str]:
    """customer_id -> email for the given customers."""
    if not customer_ids:
        return {}
    frame = pd.DataFrame({"customer_id": sorted(set(customer_ids))})
    with wh.staged(frame, "_fb_cids") as t:
        df = wh.query(
            f"SELECT c.customer_id, c.email FROM customers c JOIN {t} x ON x.customer_id = c.customer_id"
        )
    return dict(zip(df["customer_id"], df["email"], strict=False))
