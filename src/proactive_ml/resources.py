"""The run's resources, built once from the settings: warehouse, MLflow tracking, email sender.

Flows and CLI handlers open them with :func:`open_resources` and hand the parts to the stages, which keep taking
explicit arguments (a warehouse, the settings, a sender). Nothing is built at import time; the MLflow client is
created on first use, since most commands never touch MLflow.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from proactive_ml.delivery import EmailSender, sender_from_settings
from proactive_ml.modeling import registry
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse, open_warehouse


@dataclass
class Resources:
    """What one run works with: its settings, an open warehouse, the MLflow tracking URI and the email sender."""

    settings: Settings
    warehouse: Warehouse
    sender: EmailSender
    mlflow_tracking_uri: str
    _mlflow_client: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def mlflow_client(self) -> Any:
        """The run's one ``MlflowClient`` on ``mlflow_tracking_uri`` (tracking and registry), made on first use."""
        with self._lock:
            if self._mlflow_client is None:
                self._mlflow_client = registry.connect(self.settings)
            return self._mlflow_client


@contextmanager
def open_resources(settings: Settings, *, sender: EmailSender | None = None) -> Iterator[Resources]:
    """Open the run's resources from the settings (``sender``: a different one, e.g. a recording sender in tests).

    The warehouse is closed when the block ends.
    """
    wh = open_warehouse(settings.resolved_warehouse_url)
    try:
        yield Resources(
            settings=settings,
            warehouse=wh,
            sender=sender or sender_from_settings(settings),
            mlflow_tracking_uri=settings.resolved_mlflow_uri,
        )
    finally:
        wh.close()
