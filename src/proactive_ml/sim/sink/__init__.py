"""A local SendGrid-compatible mail server (demo, tests, bench). ASGI (Starlette) + uvicorn.

Modules: :mod:`.contract` (request validation and audit), :mod:`.outbox` (files), :mod:`.app` (routes, running).

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

from proactive_ml.sim.sink.app import RATE_LIMIT, Fault, SinkControl, create_app, serve, start_sink_in_thread
from proactive_ml.sim.sink.contract import MAX_BODY_BYTES, audit_request, validate_mail_send
from proactive_ml.sim.sink.outbox import Outbox, write_message_files

__all__ = [
    "MAX_BODY_BYTES",
    "RATE_LIMIT",
    "Fault",
    "Outbox",
    "SinkControl",
    "audit_request",
    "create_app",
    "serve",
    "start_sink_in_thread",
    "validate_mail_send",
    "write_message_files",
]
