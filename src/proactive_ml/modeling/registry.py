"""The MLflow edge: experiments, runs, dataset inputs, logged models, the registry and its aliases.

- One experiment per target (``proactive-churn``, ``proactive-need``); a parent run per training with one nested
  child run per candidate (params, holdout metrics, plots). Only the best candidate's model is logged (with
  signature, input example and the reasons explainer) and registered.
- Registered model ``<settings.model_name_prefix>-<target>``; aliases ``challenger`` (newest registered) and
  ``champion`` (the only one ever scored). Promotion and rollback move the ``champion`` alias; the history of
  champions is kept in the registered-model tag ``champion_history`` (comma-separated versions, oldest first).
- The tracking URI is set explicitly here (never at import) from ``settings.resolved_mlflow_uri``.
No customer email or name ever reaches MLflow: features hold none, and dataset inputs are the feature frame
without its customer index.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from proactive_ml.errors import UserError
from proactive_ml.settings import Settings

CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "champion_history"
EXPLAINER_FILE = "explainer.json"


_LOAD_LOCK = threading.Lock()


def load_sklearn_model(uri: str) -> Any:
    """``mlflow.sklearn.load_model``, one load at a time per process.

    Loading reads NumPy arrays, whose header parser (``ast.literal_eval``) is not thread-safe on CPython 3.11
    ("AST constructor recursion depth mismatch" when two threads load at once: training both targets side by
    side, or scoring partitions on threads).
    """
    import mlflow

    with _LOAD_LOCK:
        return mlflow.sklearn.load_model(uri)


def experiment_name(target: str) -> str:
    """The MLflow experiment of a target."""
    return f"proactive-{target}"


def model_name(settings: Settings, target: str) -> str:
    """The registered model name of a target."""
    return f"{settings.model_name_prefix}-{target}"


def connect(settings: Settings) -> Any:
    """Point MLflow at the configured tracking/registry store and return a client."""
    import os

    # A progress bar per tiny artifact download (a model, an explainer) only clutters logs; still overridable.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import logging

    import mlflow

    # Serving requirements are always given explicitly (see _requirements): pip's absence from a uv environment
    # is then not worth a warning on every training.
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
    # The dataset records' schema hint about integer columns concerns serving, not lineage (the model's input
    # example declares them as doubles): keep logs quiet.
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer", category=UserWarning)
    from mlflow import MlflowClient

    uri = settings.resolved_mlflow_uri
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def ensure_experiment(settings: Settings, client: Any, target: str) -> str:
    """The experiment id of a target, created with its artifact location under the artifact root."""
    name = experiment_name(target)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    root = settings.resolved_artifact_root
    if "://" not in root:
        Path(root).mkdir(parents=True, exist_ok=True)
        location = Path(root, name).resolve().as_uri()
    else:
        location = f"{root.rstrip('/')}/{name}"
    return client.create_experiment(name, artifact_location=location, tags={"target": target})


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or None if out.returncode == 0 else None
    except Exception:  # no git, not a repository: the tag is simply absent
        return None


def _prefect_flow_run_id() -> str | None:
    if "prefect" not in sys.modules:  # only inside a Prefect process; never import Prefect just to ask
        return None
    try:
        from prefect.runtime import flow_run

        fid = flow_run.id
        return str(fid) if fid else None
    except Exception:  # outside a flow run the runtime may raise or answer None
        return None


def run_tags(meta: dict[str, Any]) -> dict[str, str]:
    """Tags of every run: target, code version, Prefect flow run (when inside one)."""
    tags = {"target": str(meta.get("target", "")), "as_of": str(meta.get("as_of", ""))}
    commit = _git_commit()
    if commit:
        tags["git_commit"] = commit
        tags["mlflow.source.git.commit"] = commit
    fid = _prefect_flow_run_id()
    if fid:
        tags["prefect_flow_run_id"] = fid
    return tags


def _dataset(df: pd.DataFrame, name: str, digest: str) -> Any:
    from mlflow.data.pandas_dataset import from_pandas

    frame = df.reset_index(drop=True)  # no customer ids: features and label only
    frame["cutoff"] = frame["cutoff"].astype(str)
    return from_pandas(frame, targets="label", name=name, digest=digest[:36])


def _requirements() -> list[str]:
    """Pinned serving requirements (explicit: skips MLflow's slow environment inference)."""
    from importlib.metadata import version

    return [f"{p}=={version(p)}" for p in ("mlflow", "scikit-learn", "skops", "numpy", "pandas", "scipy")]


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}


def log_training(
    settings: Settings,
    target: str,
    results: list[Any],
    best: Any,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    explainer: Any,
    meta: dict[str, Any],
) -> dict[str, Any]:
    """Log one training: parent run, a child run per candidate, the best model. Returns run ids and model uri."""
    import mlflow
    import skops.io as sio
    from mlflow.models import infer_signature

    from proactive_ml.modeling.plots import make_plots
    from proactive_ml.modeling.train import snapshot_hash, split_xy

    client = connect(settings)
    exp_id = ensure_experiment(settings, client, target)
    tags = run_tags(meta)
    train_hash, holdout_hash = snapshot_hash(train), snapshot_hash(holdout)
    ds_train = _dataset(train, f"{target}-train", train_hash)
    ds_holdout = _dataset(holdout, f"{target}-holdout", holdout_hash)
    Xho, yho = split_xy(holdout)
    child_ids: dict[str, str] = {}
    with mlflow.start_run(
        experiment_id=exp_id,
        run_name=f"train-{target}-{meta.get('as_of')}",
        tags=tags | {"run_kind": "training"},
    ) as parent:
        mlflow.log_params(
            {
                "target": target,
                "as_of": meta["as_of"],
                "horizon_days": meta["horizon_days"],
                "holdout_cutoff": meta["holdout_cutoff"],
                "train_cutoffs": ",".join(meta["train_cutoffs"]),
                "n_train_cutoffs": len(meta["train_cutoffs"]),
                "exclude_treated": meta["exclude_treated"],
                "selection_metric": meta["selection_metric"],
                "candidates": ",".join(r.name for r in results),
            }
        )
        mlflow.set_tags(
            {
                "train_snapshot_sha256": train_hash,
                "holdout_snapshot_sha256": holdout_hash,
                "best_candidate": best.name,
            }
        )
        mlflow.log_input(ds_train, context="training")
        mlflow.log_input(ds_holdout, context="holdout")
        mlflow.log_metrics(
            {
                "n_train_rows": len(train),
                "n_holdout_rows": len(holdout),
                "n_excluded_treated": meta.get("n_excluded_treated", 0),
                "train_positive_rate": float(train["label"].mean()),
                "holdout_positive_rate": float(holdout["label"].mean()),
            }
        )
        mlflow.log_metrics({f"best_{k}": v for k, v in _finite(best.metrics).items()})
        best_run_id = ""
        for r in results:
            with mlflow.start_run(
                experiment_id=exp_id,
                run_name=r.name,
                nested=True,
                tags=tags
                | {
                    "run_kind": "candidate",
                    "candidate": r.name,
                    "train_snapshot_sha256": train_hash,
                    "holdout_snapshot_sha256": holdout_hash,
                },
            ) as child:
                child_ids[r.name] = child.info.run_id
                params = {"candidate": r.name, "kind": r.spec["kind"]}
                params |= {f"model.{k}": v for k, v in (r.spec.get("params") or {}).items()}
                params |= {f"calibration.{k}": v for k, v in (r.spec.get("calibration") or {}).items()}
                params |= {"holdout_cutoff": meta["holdout_cutoff"], "horizon_days": meta["horizon_days"]}
                mlflow.log_params(params)
                mlflow.log_input(ds_train, context="training")
                mlflow.log_input(ds_holdout, context="holdout")
                mlflow.log_metrics(_finite(r.metrics))
                for fname, fig in make_plots(yho, r.holdout_proba, r.importance).items():
                    mlflow.log_figure(fig, f"plots/{fname}")
                mlflow.log_dict({k: float(v) for k, v in r.importance.items()}, "feature_importance.json")
                if r is best:
                    best_run_id = child.info.run_id
                    mlflow.set_tag("best", "true")
                    # Integer counts are declared as doubles: a missing value at serving time is then no schema error.
                    example = Xho.head(5).astype({c: "float64" for c in Xho.select_dtypes("integer").columns})
                    signature = infer_signature(example, r.model.predict_proba(example))
                    trusted = sio.get_untrusted_types(data=sio.dumps(r.model))
                    info = mlflow.sklearn.log_model(
                        r.model,
                        name="model",
                        signature=signature,
                        input_example=example,
                        pyfunc_predict_fn="predict_proba",
                        serialization_format="skops",
                        skops_trusted_types=trusted,
                        pip_requirements=_requirements(),
                    )
                    mlflow.log_dict(explainer.to_dict(), EXPLAINER_FILE)
                    mlflow.log_dict({"features": list(Xho.columns)}, "feature_columns.json")
                    model_uri = info.model_uri
    return {
        "parent_run_id": parent.info.run_id,
        "child_run_ids": child_ids,
        "best_run_id": best_run_id,
        "model_uri": model_uri,
    }


# ---------------------------------------------------------------------------------------------- registry
def _version_or_none(client: Any, name: str, alias: str) -> Any:
    from mlflow.exceptions import MlflowException

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
    from mlflow.exceptions import MlflowException

    client = connect(settings)
    name = model_name(settings, target)
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name,
            tags={"target": target},
            description=f"Proactive {target} model (30-day horizon); score by @champion.",
        )
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    mv = client.create_model_version(
        name, source=model_uri, run_id=run_id, model_id=model_id, tags={"target": target, "run_id": run_id}
    )
    version = str(mv.version)
    client.set_registered_model_alias(name, CHALLENGER, version)
    client.set_model_version_tag(name, version, "gate_decision", reason)
    client.update_model_version(name, version, description=f"Gate: {reason}")
    return version


def _history(client: Any, name: str) -> list[str]:
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


def promote(settings: Settings, target: str, version: str, reason: str = "promoted by hand") -> str:
    """Make ``version`` the champion (the manual path, e.g. ``proactive-ml promote``)."""
    from mlflow.exceptions import MlflowException

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
    from mlflow.exceptions import MlflowException

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
    explainer: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(mv.run_id, EXPLAINER_FILE, tmp)
            explainer = json.loads(Path(path).read_text())
        except Exception:  # a champion without an explainer still scores; reasons are then empty
            explainer = {}
    return model, str(mv.version), explainer


def evaluate_champion(
    settings: Settings, target: str, X: pd.DataFrame, y: np.ndarray
) -> dict[str, Any] | None:
    """The current champion's metrics on this holdout (None without a champion or if it cannot score it)."""
    from proactive_ml.modeling.evaluate import evaluate_scores

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
    """The ``mlflow ui`` command line for the local store."""
    exe = Path(sys.executable).with_name("mlflow")
    return [
        str(exe) if exe.exists() else "mlflow",
        "ui",
        "--backend-store-uri",
        settings.resolved_mlflow_uri,
        "--default-artifact-root",
        settings.resolved_artifact_root,
        "--port",
        str(port),
    ]
