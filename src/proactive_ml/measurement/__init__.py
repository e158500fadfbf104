"""Measurement: what the outreach changed, against its randomized holdout.

In: decisions (arm and probability), outcomes and responses. Out: impact tables with intervals, MLflow impact runs,
and the HTML success report.
"""
