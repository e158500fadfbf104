"""The sink's HTTP app: SendGrid's ``/v3/mail/send`` and the sink's own ``/v3/_sink/`` routes, and running it.

In: HTTP requests (Starlette under uvicorn). Out: SendGrid-shaped answers (202 + ``X-Message-Id`` and
``X-RateLimit-*`` headers; errors as ``{"errors": [...]}``), accepted requests in the :class:`Outbox`, counters and
injected faults in the :class:`SinkControl`.
"""

from __future__ import annotations

import asyncio
import base64
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from proactive_ml.settings import Settings
from proactive_ml.sim.sink.contract import MAX_BODY_BYTES, audit_request, error, validate_mail_send
from proactive_ml.sim.sink.outbox import Outbox

RATE_LIMIT = 10_000


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
    outbox: Outbox | None = None  # set by create_app (wait_files() before reading .eml/.html)

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


def _message_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")[:22]


def _fault_response(fault: Fault) -> JSONResponse:
    """The answer of an injected 429 (with its reset time) or 5xx."""
    if fault.status == 429:
        reset = int(time.time() + fault.reset_in)
        headers = {
            "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset),
        }
        return JSONResponse({"errors": [error("too many requests")]}, status_code=429, headers=headers)
    return JSONResponse({"errors": [error("internal error (injected)")]}, status_code=fault.status or 500)


class _Sink:
    """The routes of one sink, one method each, sharing its control, outbox and rate-limit window."""

    def __init__(self, ctl: SinkControl, box: Outbox, api_key: str | None) -> None:
        self.ctl, self.box, self.api_key = ctl, box, api_key
        self.in_flight = 0
        self.window = int(time.time()) // 60
        self.used = 0

    def _rate_headers(self) -> dict[str, str]:
        win = int(time.time()) // 60
        if win != self.window:
            self.window, self.used = win, 0
        self.used += 1
        return {
            "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Remaining": str(max(RATE_LIMIT - self.used, 0)),
            "X-RateLimit-Reset": str((win + 1) * 60),
        }

    def _errors(self, status: int, errs: list[dict[str, Any]]) -> Response:
        self.ctl.stats["rejected"] += 1
        return JSONResponse({"errors": errs}, status_code=status, headers=self._rate_headers())

    def _authorized(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip()
        return auth.startswith("Bearer ") and bool(token) and (not self.api_key or token == self.api_key)

    async def mail_send(self, request: Request) -> Response:
        """``POST /v3/mail/send`` (counted in flight, so ``accepted`` can wait for it)."""
        self.in_flight += 1
        try:
            return await self._mail_send(request)
        finally:
            self.in_flight -= 1

    async def _mail_send(self, request: Request) -> Response:
        self.ctl.stats["requests"] += 1
        if not self._authorized(request):
            return self._errors(
                401, [error("The provided authorization grant is invalid, expired, or revoked")]
            )
        try:
            raw = await request.body()
        except ClientDisconnect:
            return Response(status_code=499)
        fault = self.ctl.next_fault()
        if fault and fault.slow:  # the body is already here: a client that times out may still be accepted
            await asyncio.sleep(fault.slow)
        if fault and fault.status and not fault.after_accept:
            self.ctl.stats["faults"] += 1
            return _fault_response(fault)
        if len(raw) > MAX_BODY_BYTES:
            return self._errors(
                413, [error("The JSON payload you have included in your request is too large.")]
            )
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return self._errors(400, [error("Bad Request", None, "The request body is not valid JSON.")])
        errs = validate_mail_send(body)
        if errs:
            return self._errors(400, errs)
        return self._accept(body, raw, fault)

    def _accept(self, body: dict[str, Any], raw: bytes, fault: Fault | None) -> Response:
        """Audit, then sandbox (200, nothing written) or write to the outbox (202 + X-Message-Id)."""
        ctl = self.ctl
        pii, missing = audit_request(body)
        ctl.stats["pii_violations"] += pii
        ctl.stats["missing_unsubscribe_headers"] += missing
        if ctl.record_requests:
            ctl.requests.append(body)
        if ((body.get("mail_settings") or {}).get("sandbox_mode") or {}).get("enable"):
            ctl.stats["sandbox"] += 1
            return Response(status_code=200, headers=self._rate_headers())
        mid = _message_id()
        n = self.box.write(mid, body, raw)
        ctl.stats["accepted_requests"] += 1
        ctl.stats["accepted_messages"] += n
        if fault and fault.status and fault.after_accept:  # accepted, but the client sees an error
            ctl.stats["faults"] += 1
            return JSONResponse(
                {"errors": [error("internal error (injected after accept)")]}, status_code=fault.status
            )
        return Response(status_code=202, headers={"X-Message-Id": mid, **self._rate_headers()})

    async def accepted(self, request: Request) -> Response:
        """Which of the given send keys were accepted, answered once no mail/send request is in flight."""
        if request.method == "POST":
            keys = list((await request.json()).get("send_keys") or [])
        else:
            keys = request.query_params.getlist("send_key")
        deadline = time.monotonic() + 10.0
        while self.in_flight > 0 and time.monotonic() < deadline:  # drain: see requests already received
            await asyncio.sleep(0.01)
        if self.in_flight > 0:
            return JSONResponse({"errors": [error("requests still in flight; retry")]}, status_code=503)
        with self.box.lock:
            found = {k: self.box.index[k] for k in keys if k in self.box.index}
        return JSONResponse({"accepted": found})

    async def faults(self, request: Request) -> Response:
        """Queue an injected fault (POST) or clear them (DELETE)."""
        if request.method == "DELETE":
            self.ctl.clear()
            return JSONResponse({"faults": 0})
        d = await request.json()
        self.ctl.inject(
            Fault(
                status=d.get("status"),
                count=int(d.get("count", 1)),
                reset_in=float(d.get("reset_in", 1.0)),
                slow=float(d.get("slow", 0.0)),
                after_accept=bool(d.get("after_accept", False)),
            )
        )
        return JSONResponse({"faults": len(self.ctl.faults)})

    async def stats(self, request: Request) -> Response:
        """Counters, distinct accepted send keys and message files still to write."""
        ctl, box = self.ctl, self.box
        return JSONResponse(
            {**ctl.stats, "distinct_send_keys": len(box.index), "files_pending": box.files_pending}
        )


def create_app(
    outbox_dir: Path | str,
    control: SinkControl | None = None,
    api_key: str | None = None,
    writer: str = "thread",
) -> Starlette:
    """The ASGI app.

    ``api_key``: if given, only ``Authorization: Bearer <api_key>`` is accepted. ``writer``: 'thread' (files by
    a thread of this process) or 'process' (by a low-priority process).
    """
    ctl = control or SinkControl()
    box = Outbox(Path(outbox_dir), writer)
    sink = _Sink(ctl, box, api_key)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        box.close()

    routes = [
        Route("/v3/mail/send", sink.mail_send, methods=["POST"]),
        Route("/v3/_sink/accepted", sink.accepted, methods=["GET", "POST"]),
        Route("/v3/_sink/faults", sink.faults, methods=["POST", "DELETE"]),
        Route("/v3/_sink/stats", sink.stats, methods=["GET"]),
    ]
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
) -> tuple[str, Callable[[], None], SinkControl]:
    """Run the sink with uvicorn in a daemon thread on 127.0.0.1. Returns (base_url, stop_fn, control)."""
    ctl = control or SinkControl()
    app = create_app(
        outbox_dir or settings.outbox_dir, ctl, settings.sendgrid_api_key.get_secret_value(), writer
    )
    # log_config=None: an embedded server leaves the host's logging alone (see responses.receiver.ReceiverThread).
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
    app = create_app(
        settings.outbox_dir, SinkControl(), settings.sendgrid_api_key.get_secret_value(), "process"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
