"""Modeling: point-in-time training frames in; MLflow runs, registered models by alias and scores out.

``train`` (churn and need: candidates, gates) and ``uplift_training`` (the uplift model on randomized decisions)
log through ``tracking`` and register through ``registry``; ``scoring`` is the one partitioned scoring path used
by the CLI, the flows and the benchmarks; ``candidates``, ``datasets``, ``config``, ``evaluate``, ``reasons``,
``plots`` and ``uplift`` are pure.
"""
