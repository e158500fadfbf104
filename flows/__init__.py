"""Prefect flows: thin wiring of the stages in ``proactive_ml``, one flow per job.

``ingest`` (landing files -> validation -> warehouse), ``train``, ``outreach`` (score, decide, deliver),
``responses``, ``report``, and ``closed_loop`` (the whole loop on the simulated world, what ``make demo`` runs).
Deployments in ``prefect.yaml`` name these modules' flow functions.
"""
