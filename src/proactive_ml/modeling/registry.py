"""The MLflow registry edge: the store, experiments, registered models, their aliases and loading by alias.

- One experiment per model (``proactive-churn``, ``proactive-need``, ``proactive-uplift``); what is logged in its
  runs is :mod:`proactive_ml.modeling.tracking`'s business.
- Registered model ``<settings.model_name_prefix>-<target>``; aliases ``challenger`` (newest registered) and
  ``champion`` (the only one ever scored). Promotion and rollback move the ``champion`` alias; the history of
  champions is kept in the registered-model tag ``champion_history`` (comma-separated versions, oldest first).
- The tracking URI is set explicitly here (never at import) from ``settings.resolved_mlflow_uri``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from proactive_ml.errors import UserError
from proactive_ml.modeling.evaluate import evaluate_scores
from proactive_ml.settings import Settings

CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "champion_history"
EXPLAINER_FILE = "explainer.json"
DESCRIPTIONS = {"uplift": "Proactive uplift model (incremental retention of an email); target by @champion."}

_LOAD_LOCK = threading.Lock()


def load_sklearn_model(uri: str) -> Any:
    """``mlflow.sklearn.load_model``, one load at a time per process.

    Loading reads NumPy arrays, whose header parser (``ast.literal_eval``) is not thread-safe on CPython 3.11
    ("AST constructor recursion depth mismatch" when two threads load at once: training both targets side by
    side, or scoring partitions on threads).
    """
    with _LOAD_LOCK:
        return mlflow.sklearn.load_model(uri)


def experiment_name(target: str) -> str:
    """The MLflow experiment of a target."""
    return f"proactive-{target}"


def model_name(settings: Settings, target: str) -> str:
    """The registered model name of a target."""
    return f"{settings.model_name_prefix}-{target}"


def connect(settings: Settings) -> MlflowClient:
    """Point MLflow at the configured tracking/registry store and return a client."""
    # A progress bar per tiny artifact download (a model, an explainer) only clutters logs; still overridable.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow records which environment variables a model's logging reads by patching ``os.environ``'s class for
    # the whole process; two targets trained on parallel threads then share one patch, and logging fails with
    # "Set changed size during iteration". The names it records are not needed here: always off.
    os.environ["MLFLOW_RECORD_ENV_VARS_IN_MODEL_LOGGING"] = "false"
    # Serving requirements are always given explicitly (see tracking): pip's absence from a uv environment is then
    # not worth a warning on every training.
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
    # MLflow notes "Detected uv project" at INFO on every logged model.
    logging.getLogger("mlflow.utils.uv_utils").setLevel(logging.WARNING)
    # Creating or upgrading the local store's tables is routine: not worth two INFO lines on stderr.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    # The dataset records' schema hint about integer columns concerns serving, not lineage (the model's input
    # example declares them as doubles): keep logs quiet.
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer", category=UserWarning)
    # MLflow's own input-example check compares columns with a range (pandas 3 deprecation inside MLflow, not ours).
    warnings.filterwarnings("ignore", message="Operation with range is deprecated", module="mlflow")
    uri = settings.resolved_mlflow_uri
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def ensure_experiment(settings: Settings, client: MlflowClient, target: str) -> str:
    """The experiment id of a target, created with its artifact location under the artifact root."""
    name = experiment_name(target)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    root = settings.resolved_artifact_root
    if "://" not in root:
        Path(root).mkdir(parents=True, exist_ok=True)
        location = Path(root, name).resolve().as_uri()
    else:
        location = f"{root.rstrip('/')}/{name}"
    return str(client.create_experiment(name, artifact_location=location, tags={"target": target}))


def _version_or_none(client: MlflowClient, name: str, alias: str) -> Any:
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def champion_version(settings: Settings, target: str) -> str | None:
    """The version number currently aliased ``champion`` (None if there is none)."""
    client = connect(settings)
    mv = _version_or_none(client, model_name(settings, target), CHAMPION)
    return str(mv.version) if mv else None


def register_challenger(settings: Settings, target: str, model_uri: str, run_id: str, reason: str) -> str:
    """Register the model as a new version aliased ``challenger``; the gate decision is stored on it."""
    client = connect(settings)
    name = model_name(settings, target)
    try:
        client.get_registered_model(name)
    except MlflowException:
        description = DESCRIPTIONS.get(
            target, f"Proactive {target} model (30-day horizon); score by @champion."
        )
        client.create_registered_model(name, tags={"target": target}, description=description)
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    mv = client.create_model_version(
        name, source=model_uri, run_id=run_id, model_id=model_id, tags={"target": target, "run_id": run_id}
    )
    version = str(mv.version)
    client.set_registered_model_alias(name, CHALLENGER, version)
    client.set_model_version_tag(name, version, "gate_decision", reason)
    client.update_model_version(name, version, description=f"Gate: {reason}")
    return version


def _history(client: MlflowClient, name: str) -> list[str]:
    tags = client.get_registered_model(name).tags or {}
    raw = tags.get(HISTORY_TAG, "")
    return [v for v in raw.split(",") if v]


def set_champion(settings: Settings, target: str, version: str, reason: str) -> None:
    """Move ``champion`` to ``version`` and append it to the champion history."""
    client = connect(settings)
    name = model_name(settings, target)
    client.get_model_version(name, str(version))  # raises if it does not exist
    hist = _history(client, name)
    client.set_registered_model_alias(name, CHAMPION, str(version))
    client.set_registered_model_tag(name, HISTORY_TAG, ",".join([*hist, str(version)]))
    client.set_model_version_tag(name, str(version), "promoted", reason)
    challenger = _version_or_none(client, name, CHALLENGER)
    if challenger is not None and str(challenger.version) == str(version):  # promoted: no longer a challenger
        client.delete_registered_model_alias(name, CHALLENGER)


def promote(settings: Settings, target: str, version: str, reason: str = "promoted by hand") -> str:
    """Make ``version`` the champion (the manual path, e.g. ``proactive-ml promote``)."""
    try:
        set_champion(settings, target, str(version), reason)
    except MlflowException as exc:
        raise UserError(
            f"cannot promote {model_name(settings, target)} version {version}: {exc.message}"
        ) from exc
    return str(version)


def rollback(settings: Settings, target: str) -> str:
    """Move ``champion`` back to the previous champion version; returns the version now champion."""
    client = connect(settings)
    name = model_name(settings, target)
    try:
        hist = _history(client, name)
    except MlflowException as exc:
        raise UserError(f"no registered model {name!r}: nothing to roll back") from exc
    current = _version_or_none(client, name, CHAMPION)
    if current is not None and hist and hist[-1] == str(current.version):
        hist = hist[:-1]
    if not hist:
        raise UserError(f"{name}: no previous champion to roll back to")
    previous = hist[-1]
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_registered_model_tag(name, HISTORY_TAG, ",".join(hist))
    if current is not None:
        client.set_model_version_tag(
            name, str(current.version), "rolled_back", f"replaced by version {previous}"
        )
    return previous


def load_explainer(client: MlflowClient, run_id: str | None) -> dict[str, Any]:
    """The reasons explainer logged with a model's run ({} when there is none: reasons are then empty)."""
    if not run_id:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, EXPLAINER_FILE, tmp)
        except (MlflowException, OSError):
            return {}
        return dict(json.loads(Path(path).read_text()))


def load_version(settings: Settings, target: str, version: str) -> tuple[Any, dict[str, Any]]:
    """(sklearn model, explainer dict) of one registered version of a target's model."""
    client = connect(settings)
    name = model_name(settings, target)
    model = load_sklearn_model(f"models:/{name}/{version}")
    return model, load_explainer(client, client.get_model_version(name, version).run_id)


def load_champion(settings: Settings, target: str) -> tuple[Any, str, dict[str, Any]]:
    """(sklearn model, version, explainer dict) of ``models:/<name>@champion``. UserError when there is none."""
    client = connect(settings)
    name = model_name(settings, target)
    mv = _version_or_none(client, name, CHAMPION)
    if mv is None:
        raise UserError(
            f"no champion model for {target!r}: registered model {name!r} has no @champion alias "
            f"(train with `proactive-ml train --target {target}` or promote a version with "
            f"`proactive-ml promote --target {target} --version N`). Scoring never falls back to 'latest'."
        )
    model = load_sklearn_model(f"models:/{name}@{CHAMPION}")
    return model, str(mv.version), load_explainer(client, mv.run_id)


def evaluate_champion(
    settings: Settings, target: str, X: pd.DataFrame, y: np.ndarray
) -> dict[str, Any] | None:
    """The current champion's metrics on this holdout (None without a champion or if it cannot score it)."""
    try:
        model, version, _ = load_champion(settings, target)
    except UserError:
        return None
    try:
        p = model.predict_proba(X)[:, 1]
    except Exception as exc:  # feature set changed: the champion cannot be compared; say so in the reason
        return {"version": version, "metrics": {"roc_auc": float("-inf")}, "error": str(exc)}
    return {"version": version, "metrics": evaluate_scores(y, p)}


def ui_command(settings: Settings, port: int = 5000) -> list[str]:
    """The ``mlflow ui`` command line for the local store (the environment's own ``mlflow`` first)."""
    exe = Path(sys.executable).with_name("mlflow")
    return [
        str(exe) if exe.exists() else shutil.which("mlflow") or "mlflow",
        "ui",
        "--backend-store-uri",
        settings.resolved_mlflow_uri,
        "--default-artifact-root",
        settings.resolved_artifact_root,
        "--port",
        str(port),
    ]
