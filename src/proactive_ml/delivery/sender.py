"""The ``EmailSender`` interface: what outreach needs from an email service, and nothing more.

``send(body) -> Reply`` posts one Mail Send request and never raises for HTTP errors (the caller decides what a
status means). ``lookup`` is the server's authoritative answer to "which of these send keys did you accept, under
which message id?" when the server has one (the local sink does, SendGrid does not): ``None`` otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from proactive_ml.errors import UserError

Lookup = Callable[[list[str]], dict[str, str]]


class DeliveryError(UserError, RuntimeError):
    """A problem no retry can fix (bad API key, forbidden, no server): stop and tell a person, in one line."""


class MailServerUnreachable(DeliveryError):
    """The mail server did not answer at all (nothing listening, no route): nothing more can be sent this run."""

    def __init__(self, host: str, reason: object) -> None:
        super().__init__(
            f"the mail server at {host} cannot be reached ({reason}): start the local sink with "
            "`proactive-ml mail-sink`, or set PROACTIVE_SENDGRID_HOST. The day's decisions are recorded; emails "
            "whose outcome is unknown stay 'sending' until a run reaches the server, so none is sent twice"
        )


@dataclass
class Reply:
    """What came back from one request: status (None = no answer: timeout/connection error), headers, body."""

    status: int | None
    headers: Mapping[str, Any] | None = None
    body: str = ""


class EmailSender(Protocol):
    """Sends Mail Send requests. One instance serves every sending thread."""

    lookup: Lookup | None
    """Authoritative ``send keys -> message id`` of what the server accepted, or None when it has no such API."""

    def send(self, body: dict[str, Any]) -> Reply:
        """POST one Mail Send request body; HTTP errors, timeouts and connection errors come back as a Reply."""
        ...
