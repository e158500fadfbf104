"""Ingest: a company's files -> validation -> typed rows in the warehouse's raw tables.

In: a landing folder in the contract's own layout (one sub-folder per dataset; :mod:`.files`), or any files a
``sources.yaml`` maps to the contract (:mod:`.sources`: renames, casts, constants, aggregation). Out: rows in
``customers``, ``usage_events``, ``feedback``, ``tickets`` (plus ``customer_attributes`` and ``customer_labels``
from a mapping); failing rows in ``quarantine``; one ``ingest_log`` row per loaded file.
"""
