"""A local SendGrid-compatible mail server (part of the product: demo, tests, bench). ASGI (Starlette) + uvicorn.

``POST /v3/mail/send`` follows SendGrid v3's validation rules and limits and answers like SendGrid: 202 with an
``X-Message-Id`` header and ``X-RateLimit-*`` headers; errors as ``{"errors": [{"message", "field", "help"}]}``;
``mail_settings.sandbox_mode.enable`` -> 200 and nothing is written. Every accepted personalization is written
as ``<message_id>.<n>.eml`` and ``.html`` into the outbox folder plus one line of ``accepted.jsonl``
(message_id, to, subject, send_key, categories, accepted_at, headers), appended and flushed before answering.

Sink extensions (not SendGrid APIs), all under ``/v3/_sink/``:
- ``GET /v3/_sink/accepted?send_key=..`` (repeatable) or ``POST`` ``{"send_keys": [...]}`` -> ``{"accepted":
  {send_key: message_id}}``: which send keys were accepted. Answered only once no mail/send request is in
  flight, so a reconcile after a crash sees every request the server had already received.
- ``POST /v3/_sink/faults`` ``{"status": 429|500|503, "count": n, "reset_in": s, "after_accept": bool}`` or
  ``{"slow": seconds, "count": n}``; ``DELETE`` clears them. ``GET /v3/_sink/stats``: counters, including the
  audit of every request: ``pii_violations`` (an email, name or phone in custom_args or categories) and
  ``missing_unsubscribe_headers`` (a message without RFC 8058 headers).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import queue
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

from proactive_ml.delivery.substitution import apply_substitutions
from proactive_ml.settings import Settings

MAX_BODY_BYTES = 30 * 1024 * 1024
MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
MAX_CUSTOM_ARGS_BYTES = 10_000
MAX_SUBSTITUTIONS_BYTES = 10_000
RATE_LIMIT = 10_000
RESERVED_HEADERS = {
    "x-sg-id",
    "x-sg-eid",
    "received",
    "dkim-signature",
    "content-type",
    "content-transfer-encoding",
    "to",
    "from",
    "subject",
    "reply-to",
    "cc",
    "bcc",
}
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
_PHONE = re.compile(r"(?<!\w)\+?\d[\d ().-]{7,}\d(?!\w)")


def _err(message: str, field_name: str | None = None, help_: str | None = None) -> dict[str, Any]:
    return {"message": message, "field": field_name, "help": help_}


def _addresses(p: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for k in ("to", "cc", "bcc"):
        v = p.get(k) or []
        if isinstance(v, list):
            out.extend(a for a in v if isinstance(a, dict))
    return out


def _json_size(d: dict[str, Any]) -> int:
    """Bytes of ``d`` as compact JSON (fast path for string values)."""
    try:
        return 2 + sum(len(k.encode()) + len(v.encode()) + 6 for k, v in d.items())
    except AttributeError:
        return len(json.dumps(d).encode())


def validate_mail_send(body: Any) -> list[dict[str, Any]]:
    """SendGrid v3 Mail Send rules (the subset that matters for us). Empty list = valid."""
    errors: list[dict[str, Any]] = []
    if not isinstance(body, dict):
        return [_err("Bad Request", None, "the request body must be a JSON object")]
    frm = body.get("from")
    if not isinstance(frm, dict) or not _EMAIL.match(str(frm.get("email", ""))):
        errors.append(
            _err(
                "The from object must be provided for every email send. It is an object that requires "
                "the email parameter, but may also contain a name parameter.",
                "from.email",
            )
        )
    ps = body.get("personalizations")
    template_id = body.get("template_id")
    if not isinstance(ps, list) or not ps:
        errors.append(
            _err(
                "The personalizations field is required and must have at least one personalization.",
                "personalizations",
            )
        )
        ps = []
    if len(ps) > MAX_PERSONALIZATIONS:
        errors.append(
            _err(
                "The personalizations field must have no more than 1000 personalizations.", "personalizations"
            )
        )
    seen: set[str] = set()
    total = 0
    top_subject = body.get("subject")
    msg_args = body.get("custom_args") or {}
    for i, p in enumerate(ps):
        if not isinstance(p, dict):
            errors.append(_err("Each personalization must be an object.", f"personalizations.{i}"))
            continue
        if not isinstance(p.get("to"), list) or not p["to"]:
            errors.append(
                _err(
                    "The to array is required for all personalization objects, and must have at least "
                    "one email object with a valid email address.",
                    f"personalizations.{i}.to",
                )
            )
        for a in _addresses(p):
            total += 1
            email = str(a.get("email", ""))
            if not _EMAIL.match(email):
                errors.append(_err("Does not contain a valid address.", f"personalizations.{i}.to.email"))
            low = email.lower()
            if low in seen:
                errors.append(
                    _err(
                        "Each email address in the personalization block should be unique between to, "
                        "cc, and bcc. We found the first duplicate instance of [" + email + "] in the "
                        "personalizations.0.to field.",
                        f"personalizations.{i}.to",
                    )
                )
            seen.add(low)
            name = a.get("name")
            if name is not None and (not isinstance(name, str) or ";" in name or "," in name):
                errors.append(
                    _err("The name must not contain ; or , characters.", f"personalizations.{i}.to.name")
                )
        if not template_id and not (p.get("subject") or top_subject):
            errors.append(
                _err(
                    "The subject is required. You can get around this requirement if you use a template "
                    "with a subject defined or if every personalization has a subject defined.",
                    "subject",
                )
            )
        args = {**msg_args, **(p.get("custom_args") or {})}
        if _json_size(args) >= MAX_CUSTOM_ARGS_BYTES:
            errors.append(
                _err(
                    "The custom_args total size must be less than 10,000 bytes.",
                    f"personalizations.{i}.custom_args",
                )
            )
        if any(not isinstance(v, str) for v in args.values()):
            errors.append(_err("Custom args values must be strings.", f"personalizations.{i}.custom_args"))
        subs = p.get("substitutions") or {}
        if _json_size(subs) >= MAX_SUBSTITUTIONS_BYTES:
            errors.append(
                _err(
                    "The substitutions total size must be less than 10,000 bytes.",
                    f"personalizations.{i}.substitutions",
                )
            )
        for hk, hv in (p.get("headers") or {}).items():
            if str(hk).lower() in RESERVED_HEADERS:
                errors.append(_err(f"The header {hk} is reserved.", f"personalizations.{i}.headers"))
            if not isinstance(hv, str) or any(c in hv for c in "\r\n\x00"):
                errors.append(
                    _err(
                        "Header values must be strings without line breaks.", f"personalizations.{i}.headers"
                    )
                )
    if total > MAX_RECIPIENTS:
        errors.append(_err("The total number of recipients must be no more than 1000.", "personalizations"))
    content = body.get("content")
    if not template_id:
        if not isinstance(content, list) or not content:
            errors.append(
                _err(
                    "Unless a valid template_id is provided, the content parameter is required. There "
                    "must be at least one defined content block.",
                    "content",
                )
            )
        else:
            for j, c in enumerate(content):
                if (
                    not isinstance(c, dict)
                    or not c.get("type")
                    or not isinstance(c.get("value"), str)
                    or not c["value"]
                ):
                    errors.append(
                        _err(
                            "The content value must be a string at least one character in length.",
                            f"content.{j}.value",
                        )
                    )
            types = [c.get("type") for c in content if isinstance(c, dict)]
            if "text/plain" in types and types[0] != "text/plain":
                errors.append(_err("If present, text/plain content must be first.", "content.0.type"))
    cats = body.get("categories") or []
    if (
        not isinstance(cats, list)
        or len(cats) > 10
        or any(not isinstance(c, str) or len(c) > 255 for c in cats)
    ):
        errors.append(_err("Categories must be at most 10 strings of at most 255 characters.", "categories"))
    asm = body.get("asm")
    if asm is not None and (not isinstance(asm, dict) or not isinstance(asm.get("group_id"), int)):
        errors.append(_err("The asm group_id must be an integer.", "asm.group_id"))
    return errors


def audit_request(body: dict[str, Any]) -> tuple[int, int]:
    """(pii_violations, missing_unsubscribe_headers) in one valid request: emails, names or phone numbers in
    custom_args or categories; personalizations without List-Unsubscribe + List-Unsubscribe-Post One-Click.
    """
    pii = 0
    missing = 0
    msg_headers = {k.lower(): v for k, v in (body.get("headers") or {}).items()}
    cats = [str(c) for c in body.get("categories") or []]
    for p in body.get("personalizations") or []:
        addrs = _addresses(p)
        names = {
            w
            for a in addrs
            for w in re.split(r"\W+", str(a.get("name") or "").lower())
            if len(w) > 2 and w.isalpha()
        }
        emails = {str(a.get("email") or "").lower() for a in addrs}
        values = [
            str(v) for v in {**(body.get("custom_args") or {}), **(p.get("custom_args") or {})}.values()
        ]
        values += list(map(str, (body.get("custom_args") or {}).keys())) + cats
        for v in values:
            lv = v.lower()
            tokens = set(re.split(r"[\W_]+", lv))
            if "@" in lv or _PHONE.search(lv) or any(e and e in lv for e in emails) or tokens & names:
                pii += 1
        h = {**msg_headers, **{k.lower(): v for k, v in (p.get("headers") or {}).items()}}
        lu, lup = str(h.get("list-unsubscribe", "")), str(h.get("list-unsubscribe-post", ""))
        if not (
            lu.startswith("<") and lu.endswith(">") and "http" in lu and lup == "List-Unsubscribe=One-Click"
        ):
            missing += 1
    return pii, missing


@dataclass
class Fault:
    """One injected behaviour for the next ``count`` mail/send requests."""

    status: int | None = None
    count: int = 1
    reset_in: float = 1.0
    slow: float = 0.0
    after_accept: bool = False


@dataclass
class SinkControl:
    """Fault injection, counters and (optionally) the recorded request bodies of a sink."""

    faults: deque[Fault] = field(default_factory=deque)
    record_requests: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, int] = field(
        default_factory=lambda: {
            "requests": 0,
            "accepted_requests": 0,
            "accepted_messages": 0,
            "rejected": 0,
            "sandbox": 0,
            "faults": 0,
            "pii_violations": 0,
            "missing_unsubscribe_headers": 0,
        }
    )
    lock: threading.Lock = field(default_factory=threading.Lock)
    outbox: Any = None  # set by create_app: the Outbox (wait_files() before reading .eml/.html)

    def inject(self, fault: Fault) -> None:
        """Queue a fault for the next requests."""
        with self.lock:
            self.faults.append(fault)

    def clear(self) -> None:
        """Remove all queued faults."""
        with self.lock:
            self.faults.clear()

    def next_fault(self) -> Fault | None:
        """The fault for this request (consumes one count)."""
        with self.lock:
            if not self.faults:
                return None
            f = self.faults[0]
            f.count -= 1
            if f.count <= 0:
                self.faults.popleft()
            return f


class Outbox:
    """The sink's mailbox folder: accepted.jsonl (appended and flushed before the 202), an index of accepted
    send keys, and one .eml + .html per message, written by a background writer (as SendGrid's 202 means
    'queued'); :meth:`wait_files` blocks until every accepted message is on disk.
    """

    def __init__(self, folder: Path, writer: str = "thread") -> None:
        self.folder = Path(folder)
        self.writer_mode = writer
        self.spool = self.folder / ".spool"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log_path = self.folder / "accepted.jsonl"
        self.index: dict[str, str] = {}
        if self.log_path.exists():
            with open(self.log_path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue  # a torn last line of an earlier crash of the sink itself
                    if rec.get("send_key"):
                        self.index.setdefault(rec["send_key"], rec["message_id"])
        self._fh = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the sink's life
        self.lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, dict[str, Any], str] | None] = queue.Queue()
        self._proc: Any = None
        if writer == "process":  # files written by a low-priority process: the API path keeps the CPU
            import multiprocessing

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
            lines.append(
                json.dumps(
                    {
                        "message_id": message_id,
                        "to": p["to"][0].get("email"),
                        "subject": subject,
                        "send_key": args.get("send_key"),
                        "custom_args": args,
                        "categories": cats,
                        "accepted_at": now,
                        "headers": {**msg_headers, **(p.get("headers") or {})},
                    },
                    ensure_ascii=False,
                )
            )
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
            except Exception:  # pragma: no cover - a broken file must not stop the sink
                pass
            finally:
                self._queue.task_done()

    def _write_files(self, message_id: str, body: dict[str, Any], date_header: str) -> None:
        write_message_files(self.folder, message_id, body, date_header)


def _spool_writer(folder: str) -> None:
    """The low-priority writer process: turns spooled request bodies into .eml/.html files."""
    import orjson

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
                _eml(message_id, i, frm, p["to"][0], subject, headers, args, cats, text, html, date_header)
            )


def _hdr(value: str) -> str:
    """A header value: as is when printable ASCII, else one RFC 2047 base64 encoded word."""
    if value.isascii() and value.isprintable():
        return value
    return "=?utf-8?b?" + base64.b64encode(value.encode()).decode() + "?="


def _addr(a: dict[str, Any]) -> str:
    name = a.get("name")
    return f"{_hdr(str(name))} <{a['email']}>" if name else str(a["email"])


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
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append("X-SMTPAPI: " + json.dumps({"unique_args": args, "category": cats}))
    head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    parts = [
        f"--{boundary}\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{text}",
        f"--{boundary}\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{html}",
        f"--{boundary}--\n",
    ]
    return "\n".join(head) + "\n\n" + "\n".join(parts)


def _message_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")[:22]


def create_app(
    outbox_dir: Path | str,
    control: SinkControl | None = None,
    api_key: str | None = None,
    writer: str = "thread",
) -> Any:
    """The ASGI app. ``api_key``: if given, only ``Authorization: Bearer <api_key>`` is accepted. ``writer``:
    'thread' (files by a thread of this process) or 'process' (by a low-priority process).
    """
    from starlette.applications import Starlette
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    ctl = control or SinkControl()
    box = Outbox(Path(outbox_dir), writer)
    state = {"in_flight": 0, "window": int(time.time()) // 60, "used": 0}

    def rl_headers(reset: int | None = None) -> dict[str, str]:
        win = int(time.time()) // 60
        if win != state["window"]:
            state["window"], state["used"] = win, 0
        state["used"] += 1
        return {
            "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Remaining": str(max(RATE_LIMIT - state["used"], 0)),
            "X-RateLimit-Reset": str(reset if reset is not None else (win + 1) * 60),
        }

    def errors(status: int, errs: list[dict[str, Any]], extra: dict[str, str] | None = None) -> Response:
        ctl.stats["rejected"] += 1
        return JSONResponse({"errors": errs}, status_code=status, headers={**rl_headers(), **(extra or {})})

    async def mail_send(request: Request) -> Response:
        state["in_flight"] += 1
        try:
            return await _mail_send(request)
        finally:
            state["in_flight"] -= 1

    async def _mail_send(request: Request) -> Response:
        ctl.stats["requests"] += 1
        auth = request.headers.get("authorization", "")
        if (
            not auth.startswith("Bearer ")
            or not auth[7:].strip()
            or (api_key and auth[7:].strip() != api_key)
        ):
            return errors(
                401, [_err("The provided authorization grant is invalid, expired, or revoked", None, None)]
            )
        try:
            raw = await request.body()
        except ClientDisconnect:
            return Response(status_code=499)
        fault = ctl.next_fault()
        if fault and fault.slow:  # the body is already here: a client that times out may still be accepted
            await asyncio.sleep(fault.slow)
        if fault and fault.status and not fault.after_accept:
            ctl.stats["faults"] += 1
            if fault.status == 429:
                reset = int(time.time() + fault.reset_in)
                return JSONResponse(
                    {"errors": [_err("too many requests")]},
                    status_code=429,
                    headers={
                        "X-RateLimit-Limit": str(RATE_LIMIT),
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": str(reset),
                    },
                )
            return JSONResponse({"errors": [_err("internal error (injected)")]}, status_code=fault.status)
        if len(raw) > MAX_BODY_BYTES:
            return errors(
                413, [_err("The JSON payload you have included in your request is too large.", None)]
            )
        try:
            import orjson

            body = orjson.loads(raw)
        except Exception:
            return errors(400, [_err("Bad Request", None, "The request body is not valid JSON.")])
        errs = validate_mail_send(body)
        if errs:
            return errors(400, errs)
        pii, missing = audit_request(body)
        ctl.stats["pii_violations"] += pii
        ctl.stats["missing_unsubscribe_headers"] += missing
        if ctl.record_requests:
            ctl.requests.append(body)
        if ((body.get("mail_settings") or {}).get("sandbox_mode") or {}).get("enable"):
            ctl.stats["sandbox"] += 1
            return Response(status_code=200, headers=rl_headers())
        mid = _message_id()
        n = box.write(mid, body, raw)
        ctl.stats["accepted_requests"] += 1
        ctl.stats["accepted_messages"] += n
        if fault and fault.status and fault.after_accept:  # accepted, but the client sees an error
            ctl.stats["faults"] += 1
            return JSONResponse(
                {"errors": [_err("internal error (injected after accept)")]}, status_code=fault.status
            )
        return Response(status_code=202, headers={"X-Message-Id": mid, **rl_headers()})

    async def accepted(request: Request) -> Response:
        if request.method == "POST":
            keys = list((await request.json()).get("send_keys") or [])
        else:
            keys = request.query_params.getlist("send_key")
        deadline = time.monotonic() + 10.0
        while state["in_flight"] > 0 and time.monotonic() < deadline:  # drain: see requests already received
            await asyncio.sleep(0.01)
        if state["in_flight"] > 0:
            return JSONResponse({"errors": [_err("requests still in flight; retry")]}, status_code=503)
        with box.lock:
            found = {k: box.index[k] for k in keys if k in box.index}
        return JSONResponse({"accepted": found})

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            ctl.clear()
            return JSONResponse({"faults": 0})
        d = await request.json()
        ctl.inject(
            Fault(
                status=d.get("status"),
                count=int(d.get("count", 1)),
                reset_in=float(d.get("reset_in", 1.0)),
                slow=float(d.get("slow", 0.0)),
                after_accept=bool(d.get("after_accept", False)),
            )
        )
        return JSONResponse({"faults": len(ctl.faults)})

    async def stats(request: Request) -> Response:
        return JSONResponse(
            {**ctl.stats, "distinct_send_keys": len(box.index), "files_pending": box.files_pending}
        )

    routes = [
        Route("/v3/mail/send", mail_send, methods=["POST"]),
        Route("/v3/_sink/accepted", accepted, methods=["GET", "POST"]),
        Route("/v3/_sink/faults", faults, methods=["POST", "DELETE"]),
        Route("/v3/_sink/stats", stats, methods=["GET"]),
    ]
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield
        box.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    ctl.outbox = box
    app.state.control = ctl
    app.state.outbox = box
    return app


def start_sink_in_thread(
    settings: Settings,
    port: int = 0,
    control: SinkControl | None = None,
    outbox_dir: Path | None = None,
    writer: str = "thread",
) -> tuple[str, Any, SinkControl]:
    """Run the sink with uvicorn in a daemon thread on 127.0.0.1. Returns (base_url, stop_fn, control)."""
    import uvicorn

    ctl = control or SinkControl()
    app = create_app(
        outbox_dir or settings.outbox_dir, ctl, settings.sendgrid_api_key.get_secret_value(), writer
    )
    # log_config=None: an embedded server leaves the host's logging alone (see feedback.receiver.ReceiverThread).
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        log_config=None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="mail-sink", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("mail sink failed to start")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    return f"http://127.0.0.1:{bound}", stop, ctl


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 3025) -> None:
    """Run the sink in the foreground (``proactive-ml mail-sink``)."""
    import uvicorn

    app = create_app(
        settings.outbox_dir, SinkControl(), settings.sendgrid_api_key.get_secret_value(), "process"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
