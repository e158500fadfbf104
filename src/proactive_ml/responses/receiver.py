"""The receiver service (ASGI, Starlette): SendGrid event webhooks, inbound replies, unsubscribes and ratings.

Every accepted request is written to the :class:`~proactive_ml.responses.store.RawStore` (raw bytes + headers,
fsync'ed) *before* the 2xx answer; when that write fails the answer is 503 so the sender retries. Nothing is
interpreted here beyond authentication and the batch's shape (a JSON array; no event timestamp that no table can
hold, such as ``1e20``: 400 naming the event): the responses flow (:mod:`proactive_ml.responses.processing`) parses,
validates, dedupes and attributes the stored requests later, so a bug there never loses data.

Routes
------
``POST /webhooks/sendgrid/events``            Signed Event Webhook (ECDSA P-256 over timestamp + raw body).
``POST /webhooks/sendgrid/inbound/{secret}``  Inbound Parse (multipart), authenticated by the secret path token.
``GET  /u/{token}``                           confirmation page (never changes state) with a POST form.
``POST /u/{token}``                           RFC 8058 one-click unsubscribe (``List-Unsubscribe=One-Click``).
``GET  /r/{token}/{score}``                   CSAT rating 1..5 for the send (idempotent per send).
``GET  /healthz``                             liveness.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import html
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import anyio
import uvicorn
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from proactive_ml.identity import verify_token
from proactive_ml.responses.parse import timestamp_problem
from proactive_ml.responses.store import RawStore, raw_store_path
from proactive_ml.responses.write import suppress_send
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_EVENT_BODY_BYTES = 16 * 1024 * 1024
MAX_INBOUND_BODY_BYTES = 32 * 1024 * 1024  # SendGrid Inbound Parse: 30 MB per message
QUARANTINE_HEAD_BYTES = 64 * 1024
KEYS_DIRNAME = "webhook_keys"
_DROP_HEADERS = {"cookie", "authorization"}


# ------------------------------------------------------------------ local signing keys
def local_webhook_keys(data_dir: Path | str) -> tuple[bytes, str]:
    """The local Signed Event Webhook key pair ``(private PEM, public key base64 DER)``, created on first use.

    Production uses SendGrid's public key (``settings.webhook_public_key``); locally the simulated world signs
    with this private key and the receiver verifies with its public half.
    """
    folder = Path(data_dir) / KEYS_DIRNAME
    priv_path, pub_path = folder / "private.pem", folder / "public.b64"
    if not priv_path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        tmp = priv_path.with_suffix(".tmp")
        tmp.write_bytes(pem)
        tmp.chmod(0o600)
        tmp.replace(priv_path)
        pub_path.write_text(base64.b64encode(der).decode())
    return priv_path.read_bytes(), pub_path.read_text().strip()


def sign_event_payload(private_pem: bytes, payload: bytes, timestamp: str) -> str:
    """Sign ``timestamp + payload`` like SendGrid does (ECDSA P-256, SHA-256, base64 DER signature)."""
    key = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the webhook signing key must be an EC (P-256) private key")
    sig = key.sign(timestamp.encode() + payload, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(sig).decode()


def signed_headers(private_pem: bytes, payload: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The two SendGrid signature headers for ``payload`` (timestamp defaults to now)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        SIGNATURE_HEADER: sign_event_payload(private_pem, payload, ts),
        TIMESTAMP_HEADER: ts,
        "Content-Type": "application/json",
    }


# ------------------------------------------------------------------ the app
def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family:sans-serif;max-width:36em;margin:3em auto">'
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(
        doc, status_code=status, headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
    )


class _Handlers:
    """The receiver's routes, one method each; the configuration they share is read once from the settings."""

    def __init__(
        self, settings: Settings, raw: RawStore, wh_url: str | None, clock: Callable[[], float]
    ) -> None:
        public_b64 = settings.webhook_public_key or local_webhook_keys(settings.data_dir)[1]
        self.verifier = EventWebhook()
        self.public_key = self.verifier.convert_public_key_to_ecdsa(public_b64)
        self.window = int(settings.webhook_replay_window_seconds)
        self.secret = settings.signing_secret.get_secret_value()
        self.inbound_secret = settings.inbound_secret.get_secret_value()
        self.raw, self.wh_url, self.clock = raw, wh_url, clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC).replace(tzinfo=None)

    async def _store(
        self,
        kind: str,
        path: str,
        request: Request,
        body: bytes,
        status: str = "new",
        note: str | None = None,
    ) -> int | None:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP_HEADERS}
        try:
            return await anyio.to_thread.run_sync(
                lambda: self.raw.append(kind, path, headers, body, self._now(), status=status, note=note)
            )
        except Exception:  # storage unavailable: refuse with 5xx so the sender retries
            log.exception("raw store write failed")
            return None

    def _send_key(self, token: str) -> str | None:
        payload = verify_token(token, self.secret)
        return payload if payload and payload.startswith("sk_") else None

    def _stale(self, request: Request) -> JSONResponse | None:
        """401 when the signature headers are missing or the timestamp is outside the replay window."""
        ts = request.headers.get(TIMESTAMP_HEADER)
        if not request.headers.get(SIGNATURE_HEADER) or not ts:
            return JSONResponse({"error": "missing signature headers"}, status_code=401)
        try:
            ts_int = int(ts)
        except ValueError:
            return JSONResponse({"error": "bad timestamp"}, status_code=401)
        if abs(self.clock() - ts_int) > self.window:
            return JSONResponse({"error": "stale or future timestamp"}, status_code=401)
        return None

    def _signed(self, request: Request, body: bytes) -> bool:
        try:
            payload = body.decode("utf-8")
            return bool(
                self.verifier.verify_signature(
                    payload,
                    request.headers[SIGNATURE_HEADER],
                    request.headers[TIMESTAMP_HEADER],
                    self.public_key,
                )
            )
        except (UnicodeDecodeError, binascii.Error, ValueError, TypeError):
            return False

    async def events(self, request: Request) -> Response:
        """Signed Event Webhook: authenticate, check the body is a JSON array, store it raw."""
        refused = self._stale(request)
        if refused is not None:
            return refused
        body = await _read_capped(request, MAX_EVENT_BODY_BYTES)
        if body is None:
            return JSONResponse({"error": "payload too large"}, status_code=413)
        if not self._signed(request, body):
            return JSONResponse({"error": "invalid signature"}, status_code=403)
        try:
            parsed = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            return JSONResponse({"error": "malformed JSON"}, status_code=400)
        if not isinstance(parsed, list):
            return JSONResponse({"error": "expected a JSON array of events"}, status_code=400)
        problem = _unstorable_event(parsed)
        if problem:
            return JSONResponse({"error": problem}, status_code=400)
        rid = await self._store("events", "/webhooks/sendgrid/events", request, body)
        if rid is None:
            return JSONResponse({"error": "storage unavailable"}, status_code=503)
        return JSONResponse({"stored": rid, "events": len(parsed)})

    async def inbound(self, request: Request) -> Response:
        """Inbound Parse post, authenticated by the secret in its path; too large ones keep only their head."""
        given = request.path_params.get("secret", "")
        if not hmac.compare_digest(given.encode(), self.inbound_secret.encode()):
            return JSONResponse({"error": "not found"}, status_code=404)
        body, size = await _read_head(request, MAX_INBOUND_BODY_BYTES)
        path = "/webhooks/sendgrid/inbound"
        if size > MAX_INBOUND_BODY_BYTES:
            note = f"too_large: {size} bytes > {MAX_INBOUND_BODY_BYTES}"
            head = body[:QUARANTINE_HEAD_BYTES]
            rid = await self._store("inbound", path, request, head, status="quarantined", note=note)
        else:
            rid = await self._store("inbound", path, request, body)
        if rid is None:
            return JSONResponse({"error": "storage unavailable"}, status_code=503)
        return JSONResponse({"stored": rid})

    async def unsubscribe_page(self, request: Request) -> Response:
        """Confirmation page with a one-click form (a GET never changes state)."""
        token = request.path_params["token"]
        if not self._send_key(token):
            return _page("Link not valid", "<p>This unsubscribe link is not valid.</p>", status=404)
        action = html.escape(f"/u/{token}", quote=True)
        return _page(
            "Unsubscribe",
            "<p>Do you want to stop receiving these emails from us?</p>"
            f'<form method="post" action="{action}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            '<button type="submit">Unsubscribe</button></form>',
        )

    async def unsubscribe(self, request: Request) -> Response:
        """RFC 8058 one-click unsubscribe: store it; with a warehouse URL also suppress at once (best effort)."""
        token = request.path_params["token"]
        sk = self._send_key(token)
        if not sk:
            return _page("Link not valid", "<p>This unsubscribe link is not valid.</p>", status=404)
        body = await request.body()
        if b"List-Unsubscribe=One-Click" not in body and b'name="List-Unsubscribe"' not in body:
            return _page("Bad request", "<p>Expected List-Unsubscribe=One-Click.</p>", status=400)
        if await self._store("unsubscribe", f"/u/{token}", request, body) is None:
            return _try_again()
        wh_url = self.wh_url
        if wh_url:
            await anyio.to_thread.run_sync(lambda: _apply_now(wh_url, sk, self._now()))
        return _page("You are unsubscribed", "<p>You will not receive these emails any more.</p>")

    async def rating(self, request: Request) -> Response:
        """CSAT rating 1..5 of a send (the responses flow keeps the latest per send)."""
        token = request.path_params["token"]
        if not self._send_key(token):
            return _page("Link not valid", "<p>This link is not valid.</p>", status=404)
        score = request.path_params["score"]
        if score not in {"1", "2", "3", "4", "5"}:
            return _page("Bad rating", "<p>Ratings go from 1 to 5.</p>", status=400)
        if await self._store("rating", f"/r/{token}/{score}", request, score.encode()) is None:
            return _try_again()
        return _page("Thank you", f"<p>You rated this email {score} out of 5. Thank you for telling us.</p>")


def _unstorable_event(events: list[object]) -> str | None:
    """The first event no table could hold (a timestamp like ``1e20``), as ``event N: why``; None when all can be."""
    for i, ev in enumerate(events):
        problem = timestamp_problem(ev.get("timestamp")) if isinstance(ev, dict) else None
        if problem:
            return f"event {i}: {problem}"
    return None


async def _health(request: Request) -> Response:
    return JSONResponse({"ok": True})


def _try_again() -> HTMLResponse:
    return _page("Try again", "<p>We could not record this right now. Please try again.</p>", status=503)


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The body, or None once it is larger than ``limit`` (a chunked upload cannot exhaust memory)."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_head(request: Request, limit: int) -> tuple[bytes, int]:
    """Up to ``limit`` bytes of the body and its full size (the rest is drained, not kept)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            continue  # drain, keep only the head for forensics
        chunks.append(chunk)
    return b"".join(chunks), size


def create_app(
    settings: Settings,
    wh_url: str | None = None,
    *,
    store: RawStore | None = None,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """Build the receiver ASGI app.

    ``store`` defaults to the raw log under ``settings.data_dir``. ``wh_url``, when given, lets one-click
    unsubscribes also reach the suppression list at once (best effort: the responses flow is the guarantee).
    ``clock`` (epoch seconds) is injectable for replay-window tests.
    """
    raw = store or RawStore(raw_store_path(settings))
    h = _Handlers(settings, raw, wh_url, clock)
    app = Starlette(
        routes=[
            Route("/webhooks/sendgrid/events", h.events, methods=["POST"]),
            Route("/webhooks/sendgrid/inbound/{secret}", h.inbound, methods=["POST"]),
            Route("/u/{token}", h.unsubscribe_page, methods=["GET"]),
            Route("/u/{token}", h.unsubscribe, methods=["POST"]),
            Route("/r/{token}/{score}", h.rating, methods=["GET"]),
            Route("/healthz", _health, methods=["GET"]),
        ]
    )
    app.state.store = raw
    return app


def _apply_now(wh_url: str, send_key: str, at: datetime) -> None:
    """Best-effort immediate suppression for a one-click unsubscribe (the responses flow re-applies it)."""
    try:
        with Warehouse.connect(wh_url) as wh:
            suppress_send(wh, send_key, reason="unsubscribe", source="one_click", at=at)
    except Exception:  # the raw request is stored; the responses flow will apply it
        log.warning("immediate suppression deferred to the responses flow", exc_info=True)


# ------------------------------------------------------------------ running it
def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8025, wh_url: str | None = None) -> None:
    """Run the receiver with uvicorn (blocking)."""
    uvicorn.run(create_app(settings, wh_url), host=host, port=port, log_level="warning", access_log=False)


class ReceiverThread:
    """The receiver under uvicorn in a background thread on 127.0.0.1 (port 0 picks a free port)."""

    def __init__(self, app: Starlette, port: int = 0) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # log_config=None: an embedded server must not reconfigure the host's logging (uvicorn's dictConfig
        # flushes and drops every existing handler, Prefect's API log handler included, which can deadlock).
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", log_config=None)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def __enter__(self) -> ReceiverThread:
        self._thread.start()
        deadline = time.time() + 10
        while not self.server.started and time.time() < deadline:
            time.sleep(0.01)
        if not self.server.started:
            raise RuntimeError("receiver did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


def start_receiver_in_thread(
    settings: Settings,
    port: int = 0,
    wh_url: str | None = None,
    *,
    store: RawStore | None = None,
    clock: Callable[[], float] = time.time,
) -> ReceiverThread:
    """Start the receiver in a thread; use the result as a context manager (``with ... as receiver:``)."""
    return ReceiverThread(create_app(settings, wh_url, store=store, clock=clock), port=port)
