"""Responses: what customers did with our emails, closing the loop.

In: signed SendGrid event webhooks, inbound replies, one-click unsubscribes and ratings (the receiver stores them raw).
Out: validated, deduplicated, attributed ``email_events``, ``replies``, ``ratings`` and ``suppressions``.
"""
