"""Delivery: the email-sending edge. An ``EmailSender`` interface and its SendGrid implementation.

In: Mail Send request bodies. Out: replies (status, ``X-Message-Id``, rate-limit headers) and, where the server
offers one, an authoritative lookup of accepted send keys. :func:`sender_from_settings` is the one place that
chooses the sender (SendGrid itself or the local SendGrid-compatible sink) from the settings. Nothing here knows
about outreach: this package sits below it.
"""

from __future__ import annotations

from proactive_ml.delivery.sender import DeliveryError, EmailSender, Lookup, MailServerUnreachable, Reply
from proactive_ml.delivery.sendgrid import SendGridSender, sink_lookup
from proactive_ml.settings import Settings

__all__ = [
    "DeliveryError",
    "EmailSender",
    "Lookup",
    "MailServerUnreachable",
    "Reply",
    "SendGridSender",
    "sender_from_settings",
]

MIN_LOOKUP_TIMEOUT = 30.0


def sender_from_settings(settings: Settings, *, timeout: float = 30.0) -> EmailSender:
    """The sender for these settings: the official client against ``settings.sendgrid_api_host``.

    Against the local sink the sender carries the sink's authoritative lookup; against SendGrid it has none
    (events resolve ambiguous sends there).
    """
    host = settings.sendgrid_api_host
    lookup = None if settings.uses_real_sendgrid else sink_lookup(host, max(timeout, MIN_LOOKUP_TIMEOUT))
    return SendGridSender(settings.sendgrid_api_key.get_secret_value(), host, timeout=timeout, lookup=lookup)
