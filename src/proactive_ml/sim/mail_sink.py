"""The SendGrid-compatible mail sink, by its former name (the code lives in :mod:`proactive_ml.sim.sink`)."""

from proactive_ml.sim.sink import (
    MAX_BODY_BYTES,
    RATE_LIMIT,
    Fault,
    Outbox,
    SinkControl,
    audit_request,
    create_app,
    serve,
    start_sink_in_thread,
    validate_mail_send,
    write_message_files,
)

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
