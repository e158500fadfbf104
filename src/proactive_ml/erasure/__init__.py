"""Erasure (GDPR Art. 17): ``proactive-ml erase CUSTOMER_ID`` removes a person's data from everything we write.

See :func:`proactive_ml.erasure.erase.erase_customer`.
"""
