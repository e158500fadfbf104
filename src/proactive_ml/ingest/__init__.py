"""Ingest: landing files (CSV, Parquet, JSON lines) -> validation -> typed rows in the warehouse's raw tables.

In: a landing folder (one sub-folder per dataset) or a file. Out: rows in ``customers``, ``usage_events``,
``feedback``, ``tickets``; failing rows in ``quarantine``; one ``ingested_files`` row per loaded file.
"""
