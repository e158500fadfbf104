"""Delivery: the email-sending edge. An ``EmailSender`` interface and its SendGrid implementation.

In: Mail Send request bodies. Out: replies (status, ``X-Message-Id``, rate-limit headers). The SendGrid host
(SendGrid itself or the local sink) is chosen in one place from the settings.
"""
