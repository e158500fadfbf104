"""The sink's outbox: what SendGrid would have delivered, as files.

In: accepted ``/v3/mail/send`` request bodies. Out: ``accepted.jsonl`` (one line per personalization, appended and
flushed before the 202), an index of accepted send keys, and one ``<message_id>.<n>.eml`` + ``.html`` per
message, written in the background (SendGrid's 202 means "queued") by a thread or a low-priority process.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import multiprocessing
import os
import queue
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime, formataddr
from html import escape
from pathlib import Path
from typing import Any

import orjson

from proactive_ml.delivery.substitution import apply_substitutions

log = logging.getLogger(__name__)


def _load_index(log_path: Path) -> dict[str, str]:
    """Send key -> message id of every line already in ``accepted.jsonl`` (the first acceptance wins)."""
    index: dict[str, str] = {}
    if not log_path.exists():
        return index
    with open(log_path, encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a torn last line of an earlier crash of the sink itself
            if rec.get("send_key"):
                index.setdefault(rec["send_key"], rec["message_id"])
    return index


def _accepted_lines(message_id: str, body: dict[str, Any], now: str) -> tuple[list[str], list[str | None]]:
    """One ``accepted.jsonl`` line per personalization, and the send keys they carry."""
    cats = body.get("categories") or []
    msg_args = body.get("custom_args") or {}
    msg_headers = body.get("headers") or {}
    lines = []
    keys = []
    for p in body["personalizations"]:
        subs = p.get("substitutions") or {}
        subject = str(p.get("subject") or body.get("subject") or "")
        subject = apply_substitutions(subject, subs) if subs and "%" in subject else subject
        args = {**msg_args, **(p.get("custom_args") or {})}
        keys.append(args.get("send_key"))
        record = {
            "message_id": message_id,
            "to": p["to"][0].get("email"),
            "subject": subject,
            "send_key": args.get("send_key"),
            "custom_args": args,
            "categories": cats,
            "accepted_at": now,
            "headers": {**msg_headers, **(p.get("headers") or {})},
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    return lines, keys


class Outbox:
    """The sink's mailbox folder: accepted.jsonl, the index of accepted send keys, and the message files.

    accepted.jsonl is appended and flushed before the 202; one .eml + .html per message is written by a
    background writer (as SendGrid's 202 means 'queued'); :meth:`wait_files` blocks until every accepted
    message is on disk.
    """

    def __init__(self, folder: Path, writer: str = "thread") -> None:
        self.folder = Path(folder)
        self.writer_mode = writer
        self.spool = self.folder / ".spool"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log_path = self.folder / "accepted.jsonl"
        self.index = _load_index(self.log_path)
        self._fh = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the sink's life
        self.lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, dict[str, Any], str] | None] = queue.Queue()
        self._proc: Any = None
        if writer == "process":  # files written by a low-priority process: the API path keeps the CPU
            self.spool.mkdir(exist_ok=True)
            self._proc = multiprocessing.get_context("spawn").Process(
                target=_spool_writer, args=(str(self.folder),), name="outbox-writer", daemon=True
            )
            self._proc.start()
        else:
            self._writer = threading.Thread(target=self._write_files_loop, name="outbox-writer", daemon=True)
            self._writer.start()

    @property
    def files_pending(self) -> int:
        """Accepted requests whose .eml/.html files are not written yet."""
        if self.writer_mode == "process":
            return sum(1 for _ in self.spool.glob("*.json"))
        return self._queue.unfinished_tasks

    def close(self) -> None:
        """Finish writing files and close the log."""
        if self._proc is not None:
            self.wait_files(120)
            self._proc.terminate()
            self._proc.join(timeout=10)
        else:
            self._queue.put(None)
            self._writer.join(timeout=120)
        self._fh.close()

    def wait_files(self, timeout: float = 120.0) -> bool:
        """Block until every accepted message has its .eml and .html file (True) or the timeout passes."""
        deadline = time.monotonic() + timeout
        while self.files_pending and time.monotonic() < deadline:
            time.sleep(0.005)
        return not self.files_pending

    def write(self, message_id: str, body: dict[str, Any], raw: bytes | None = None) -> int:
        """Log every personalization of an accepted request (append + flush) and queue its files."""
        stamp = datetime.now(UTC)
        now = stamp.replace(tzinfo=None).isoformat(timespec="milliseconds")
        lines, keys = _accepted_lines(message_id, body, now)
        with self.lock:
            self._fh.write("\n".join(lines) + "\n")
            self._fh.flush()
            for sk in keys:
                if sk:
                    self.index.setdefault(sk, message_id)
        if self._proc is not None:
            tmp = self.spool / f"{message_id}.tmp"
            tmp.write_bytes(raw if raw is not None else json.dumps(body).encode())
            os.replace(tmp, self.spool / f"{message_id}.json")
        else:
            self._queue.put((message_id, body, format_datetime(stamp)))
        return len(lines)

    def _write_files_loop(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._write_files(*item)
            except Exception:  # a broken file must not stop the sink
                log.exception("outbox: writing the files of a message failed")
            finally:
                self._queue.task_done()

    def _write_files(self, message_id: str, body: dict[str, Any], date_header: str) -> None:
        write_message_files(self.folder, message_id, body, date_header)


def _spool_writer(folder: str) -> None:
    """The low-priority writer process: turns spooled request bodies into .eml/.html files."""
    with contextlib.suppress(OSError):
        os.nice(10)
    spool = Path(folder) / ".spool"
    parent = os.getppid()
    while True:
        files = sorted(spool.glob("*.json"), key=lambda f: f.stat().st_mtime)
        if not files:
            if os.getppid() != parent:
                return
            time.sleep(0.02)
            continue
        for f in files:
            body = orjson.loads(f.read_bytes())
            stamp = datetime.fromtimestamp(f.stat().st_mtime, UTC)
            write_message_files(Path(folder), f.stem, body, format_datetime(stamp))
            f.unlink()


def write_message_files(folder: Path, message_id: str, body: dict[str, Any], date_header: str) -> None:
    """Write every personalization of an accepted request as ``<message_id>.<n>.eml`` and ``.html``."""
    content = {c.get("type"): c.get("value", "") for c in body.get("content") or []}
    frm = body["from"]
    cats = body.get("categories") or []
    for i, p in enumerate(body["personalizations"]):
        subs = p.get("substitutions") or {}
        subject = apply_substitutions(str(p.get("subject") or body.get("subject") or ""), subs)
        if body.get("template_id"):
            data = json.dumps(p.get("dynamic_template_data") or {}, indent=2, ensure_ascii=False)
            text = f"[dynamic template {body['template_id']}]\n{data}\n"
            html = f"<p>dynamic template {escape(str(body['template_id']))}</p><pre>{escape(data)}</pre>"
            subject = subject or str((p.get("dynamic_template_data") or {}).get("subject", ""))
        else:
            text = apply_substitutions(content.get("text/plain", ""), subs)
            html = apply_substitutions(content.get("text/html", ""), subs)
        headers = {**(body.get("headers") or {}), **(p.get("headers") or {})}
        args = {**(body.get("custom_args") or {}), **(p.get("custom_args") or {})}
        stem = folder / f"{message_id}.{i:04d}"
        with open(f"{stem}.html", "w", encoding="utf-8") as fh:
            fh.write(html)
        with open(f"{stem}.eml", "w", encoding="utf-8") as fh:
            fh.write(
                _eml(
                    message_id,
                    i,
                    frm,
                    p["to"][0],
                    subject,
                    headers,
                    args,
                    cats,
                    text,
                    html,
                    date_header,
                    body.get("reply_to"),
                )
            )


def _hdr(value: str) -> str:
    """A header value: as is when printable ASCII, else one RFC 2047 base64 encoded word."""
    if value.isascii() and value.isprintable():
        return value
    return "=?utf-8?b?" + base64.b64encode(value.encode()).decode() + "?="


def _addr(a: dict[str, Any]) -> str:
    """An address header value (RFC 5322/2047): the display name quoted or encoded, never a second address.

    ``Mary <mary@evil.org>`` becomes a quoted display name; a non-ASCII name an RFC 2047 encoded word.
    """
    name = " ".join(str(a.get("name") or "").split())
    return formataddr((name, str(a["email"])), charset="utf-8") if name else str(a["email"])


def _eml(
    message_id: str,
    i: int,
    frm: dict[str, Any],
    to: dict[str, Any],
    subject: str,
    headers: dict[str, str],
    args: dict[str, str],
    cats: list[str],
    text: str,
    html: str,
    now: str,
    reply_to: dict[str, Any] | None = None,
) -> str:
    boundary = f"=_{message_id}_{i}"
    head = [
        f"Message-ID: <{message_id}.{i}@sink.local>",
        f"Date: {now}",
        f"From: {_addr(frm)}",
        f"To: {_addr(to)}",
        f"Subject: {_hdr(subject)}",
        "MIME-Version: 1.0",
    ]
    if reply_to:
        head.insert(4, f"Reply-To: {_addr(reply_to)}")
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append("X-SMTPAPI: " + json.dumps({"unique_args": args, "category": cats}))
    head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    parts = [
        f"--{boundary}\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{text}",
        f"--{boundary}\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{html}",
        f"--{boundary}--\n",
    ]
    return "\n".join(head) + "\n\n" + "\n".join(parts)
