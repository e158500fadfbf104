"""Write a large batch's valid rows chunk by chunk, in one transaction on a writer thread, while it is validated.

The warehouse inserts chunk *k* (DuckDB and the PostgreSQL driver release the GIL) while the next chunk is read
and checked. Nothing is committed before the whole batch passed its gates and GX: :meth:`BatchWriter.commit`
runs the batch's last statements (quarantine, ingest log, validation run) in the same transaction and commits;
:meth:`BatchWriter.abort` (or leaving the block on an error) rolls every chunk back. All of the file or nothing.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

import pandas as pd

from proactive_ml.warehouse.engine import Warehouse

PENDING_CHUNKS = 2  # writes waiting for the writer thread: bounds memory
WRITE_ROWS = 2_000_000  # rows per INSERT: each statement's key look-up also scans the rows written before it


class _Abort(Exception):
    """Raised inside the writer's transaction to roll it back."""


class BatchWriter:
    """One transaction on its own thread: chunks of valid rows in, one commit (or rollback) at the end."""

    def __init__(self, wh: Warehouse, write_rows: Callable[[Warehouse, pd.DataFrame], int]) -> None:
        self.wh, self.write_rows = wh, write_rows
        self.inserted = 0
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=PENDING_CHUNKS)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._done = False
        self._buffer: list[pd.DataFrame] = []
        self._buffered = 0

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._done:
            self.abort()

    def put(self, rows: pd.DataFrame) -> None:
        """Queue one chunk of valid rows; a failed write raises here.

        Rows go to the writer in batches of ``WRITE_ROWS``; this blocks while ``PENDING_CHUNKS`` batches wait.
        """
        if self._error is not None:
            raise self._error
        if len(rows):
            self._buffer.append(rows)
            self._buffered += len(rows)
        if self._buffered >= WRITE_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._buffered:
            rows = pd.concat(self._buffer, ignore_index=True) if len(self._buffer) > 1 else self._buffer[0]
            self._buffer, self._buffered = [], 0
            self._start()
            self._queue.put(("rows", rows))

    def commit(self, last: Callable[[Warehouse], None]) -> int:
        """Run ``last`` in the transaction and commit; returns the rows inserted. A failed write raises here."""
        if self._error is None:
            self._flush()
        self._start()
        self._finish(("commit", last))
        if self._error is not None:
            raise self._error
        return self.inserted

    def abort(self) -> None:
        """Roll back every chunk written (a write error, if any, is dropped: the batch is refused anyway)."""
        if self._thread is not None:
            self._finish(("abort", None))
        self._done = True

    def _finish(self, message: tuple[str, Any]) -> None:
        self._queue.put(message)
        if self._thread is not None:
            self._thread.join()
        self._done = True

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        kind = ""
        try:
            with self.wh.transaction():
                while True:
                    kind, item = self._queue.get()
                    if kind == "rows":
                        self.inserted += self.write_rows(self.wh, item)
                    elif kind == "commit":
                        item(self.wh)
                        return
                    else:
                        raise _Abort
        except _Abort:
            return
        except BaseException as exc:  # rolled back; handed to the validating thread
            self._error = exc
        while kind not in ("commit", "abort"):  # keep taking chunks until told to stop
            kind, _ = self._queue.get()
