"""Small helpers shared by the flows: settings, the warehouse's schema, the run's time and transient-error retries."""

from __future__ import annotations

import atexit
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from proactive_ml.errors import UserError
from proactive_ml.settings import Settings, get_settings
from proactive_ml.warehouse import Warehouse, migrate


def resolve_as_of(as_of: str | None) -> datetime:
    """The explicit time a run works as of; flows are the only place that may read the wall clock."""
    return datetime.fromisoformat(as_of) if as_of else datetime.utcnow().replace(microsecond=0)


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Settings from the environment, with per-run overrides (e.g. a data folder)."""
    return get_settings(**(overrides or {}))


def migrate_warehouse(settings: Settings) -> int:
    """Bring the warehouse's tables to the current schema version: the first step of every flow."""
    with Warehouse.connect(settings.resolved_warehouse_url) as wh:
        return migrate(wh)


def is_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only what may pass by itself: timeouts, connection drops, a locked SQLite file, HTTP 429/5xx."""
    try:
        state.result()
    except Exception as exc:  # the failure we are judging
        text = f"{type(exc).__name__}: {exc}".lower()
        markers = ("timeout", "timed out", "connection", "database is locked", "429", "503", "502", "504")
        return any(m in text for m in markers)
    return False


@contextmanager
def no_subflow_heartbeats() -> Iterator[None]:
    """Subflows called inside this block send no heartbeats of their own.

    A flow run's heartbeat thread sleeps in 1-second steps and is joined when the run ends, so each run pays up to
    a second on exit (Prefect 3.8). Subflows run in their parent's process, whose own heartbeat already tells the
    server that the process is alive; a loop of many short subflows (the closed-loop demo) saves minutes.
    """
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def run_name(prefix: str) -> Callable[[], str]:
    """A ``flow_run_name`` that names each run by its as-of date: ``ingest-2026-03-01`` (today when not given)."""

    def name() -> str:
        from prefect.runtime import flow_run

        as_of = (flow_run.parameters or {}).get("as_of")
        try:
            day = resolve_as_of(as_of).date().isoformat()
        except (TypeError, ValueError):  # a bad as_of fails in the flow itself, with its own message
            day = str(as_of)
        return f"{prefix}-{day}"

    return name


def require_customers(settings: Settings, flow: str) -> None:
    """Fail, saying why, when the warehouse has no customer: a flow on no data must not report an empty success."""
    with Warehouse.connect(settings.resolved_warehouse_url) as wh:
        if wh.row_count("customers"):
            return
    raise UserError(
        f"{flow}: the warehouse {settings.resolved_warehouse_url} has no customers: nothing to work on. Ingest "
        f"first, or point the run at the right data folder (PROACTIVE_DATA_DIR, now {settings.data_dir}; a "
        "deployment sets it in its job variables: see prefect.yaml)"
    )


def quiet_temporary_server_shutdown() -> Path | None:
    """Give Prefect's temporary server a logging config that keeps its shutdown quiet; the config's path.

    When the server Prefect starts for a run without ``PREFECT_API_URL`` stops, it may log a cancelled connection
    reset as an ERROR with a traceback (``sqlalchemy.pool``, PrefectHQ/prefect#16504): harmless, and the last
    thing the demo would print. The config is Prefect's own ``logging.yml`` with one logger added (the SQLAlchemy
    pool logs only what is critical), read when the server starts; a ``PREFECT_LOGGING_SETTINGS_PATH`` already
    set is kept (``None``).
    """
    if os.environ.get("PREFECT_LOGGING_SETTINGS_PATH"):
        return None
    import prefect.logging

    config = yaml.safe_load(Path(prefect.logging.__file__).with_name("logging.yml").read_text())
    config["loggers"]["sqlalchemy.pool"] = {"level": "CRITICAL"}
    fd, name = tempfile.mkstemp(prefix="proactive-prefect-logging-", suffix=".yml")
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    atexit.register(Path(name).unlink, missing_ok=True)
    os.environ["PREFECT_LOGGING_SETTINGS_PATH"] = name
    return Path(name)
