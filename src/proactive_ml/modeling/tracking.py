"""The MLflow tracking edge: what each training logs (runs, params, metrics, plots, datasets, the model).

- Churn and need: a parent run per training with one nested child run per candidate (params, holdout metrics,
  plots). Only the best candidate's model is logged (with signature, input example and the reasons explainer).
- Uplift: one run per training (data counts, Qini and uplift@k on a validation split, the Qini plot, the model).
No customer email, name or id ever reaches MLflow: features hold none, and dataset inputs are the feature frame
without its customer index.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import skops.io as sio
from mlflow.data.pandas_dataset import from_pandas
from mlflow.models import infer_signature

from proactive_ml.modeling.candidates import CandidateResult
from proactive_ml.modeling.datasets import CUTOFF, LABEL, snapshot_hash, split_xy
from proactive_ml.modeling.plots import make_plots, qini_figure
from proactive_ml.modeling.reasons import Explainer
from proactive_ml.modeling.registry import EXPLAINER_FILE, connect, ensure_experiment
from proactive_ml.modeling.uplift import UpliftModel, qini_curve
from proactive_ml.settings import Settings


@dataclass(frozen=True)
class TrainingData:
    """The frames of one training and their inputs as MLflow datasets (features and label, no customer ids)."""

    train: pd.DataFrame
    holdout: pd.DataFrame
    train_hash: str
    holdout_hash: str
    inputs: tuple[Any, Any]

    @classmethod
    def of(cls, target: str, train: pd.DataFrame, holdout: pd.DataFrame) -> TrainingData:
        """Hash both frames and wrap them as MLflow datasets."""
        th, hh = snapshot_hash(train), snapshot_hash(holdout)
        inputs = (_dataset(train, f"{target}-train", th), _dataset(holdout, f"{target}-holdout", hh))
        return cls(train, holdout, th, hh, inputs)

    def log_inputs(self) -> None:
        """Record both frames as inputs of the active run."""
        mlflow.log_input(self.inputs[0], context="training")
        mlflow.log_input(self.inputs[1], context="holdout")


def _git_commit() -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        out = subprocess.run(  # noqa: S603 - fixed arguments, git resolved to a full path
            [git, "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):  # not a repository, no permission: the tag is simply absent
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _prefect_flow_run_id() -> str | None:
    if "prefect" not in sys.modules:  # only inside a Prefect process; never import Prefect just to ask
        return None
    try:
        fid = importlib.import_module("prefect.runtime.flow_run").id
    except Exception:  # outside a flow run the runtime may raise or answer None
        return None
    return str(fid) if fid else None


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


def _dataset(df: pd.DataFrame, name: str, digest: str, targets: str = LABEL) -> Any:
    frame = df.reset_index(drop=True)  # no customer ids: features and label only
    for col in (CUTOFF, "decided"):
        if col in frame:
            frame[col] = frame[col].astype(str)
    return from_pandas(frame, targets=targets, name=name, digest=digest[:36])


def _requirements() -> list[str]:
    """Pinned serving requirements (explicit: skips MLflow's slow environment inference)."""
    return [f"{p}=={version(p)}" for p in ("mlflow", "scikit-learn", "skops", "numpy", "pandas", "scipy")]


def _finite(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float | np.number) and not isinstance(v, bool) and np.isfinite(v)
    }


def _log_model(model: Any, example: pd.DataFrame, predict_fn: str, prediction: Any) -> str:
    """Log an estimator with skops (its own types trusted) and return the model URI."""
    info = mlflow.sklearn.log_model(
        model,
        name="model",
        signature=infer_signature(example, prediction),
        input_example=example,
        pyfunc_predict_fn=predict_fn,
        serialization_format="skops",
        skops_trusted_types=sio.get_untrusted_types(data=sio.dumps(model)),
        pip_requirements=_requirements(),
    )
    return str(info.model_uri)


def _as_doubles(X: pd.DataFrame) -> pd.DataFrame:
    """Integer counts declared as doubles: a missing value at serving time is then no schema error."""
    return X.astype({c: "float64" for c in X.select_dtypes("integer").columns})


def _log_parent(
    target: str,
    data: TrainingData,
    results: list[CandidateResult],
    best: CandidateResult,
    meta: dict[str, Any],
) -> None:
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
            "train_snapshot_sha256": data.train_hash,
            "holdout_snapshot_sha256": data.holdout_hash,
            "best_candidate": best.name,
        }
    )
    data.log_inputs()
    mlflow.log_metrics(
        {
            "n_train_rows": len(data.train),
            "n_holdout_rows": len(data.holdout),
            "n_excluded_treated": meta.get("n_excluded_treated", 0),
            "train_positive_rate": float(data.train[LABEL].mean()),
            "holdout_positive_rate": float(data.holdout[LABEL].mean()),
        }
    )
    mlflow.log_metrics(holdout_names(_finite(best.metrics)))  # the best candidate's, under the same names


EVALUATION_METRICS = frozenset({"roc_auc", "pr_auc", "brier", "log_loss", "base_rate", "n"})
_TOP_K = ("lift_at_", "recall_at_")


def holdout_names(metrics: dict[str, float]) -> dict[str, float]:
    """Metrics as logged: evaluation ones prefixed ``holdout_`` (``holdout_roc_auc``), the rest as they are.

    ``fit_seconds`` and ``cv5_*`` keep their names. Parent and candidate runs share these names, so the MLflow UI
    compares a training's best with every candidate in one column.
    """
    return {
        (f"holdout_{k}" if k in EVALUATION_METRICS or k.startswith(_TOP_K) else k): v
        for k, v in metrics.items()
    }


def candidate_params(r: CandidateResult, meta: dict[str, Any]) -> dict[str, Any]:
    """The params of a candidate's run: kind, model and calibration settings, ensemble members, holdout."""
    params: dict[str, Any] = {"candidate": r.name, "kind": r.spec["kind"]}
    params |= {f"model.{k}": v for k, v in (r.spec.get("params") or {}).items()}
    params |= {f"calibration.{k}": v for k, v in (r.spec.get("calibration") or {}).items()}
    if r.spec.get("members"):
        params["members"] = ",".join(m["name"] for m in r.spec["members"])
    return params | {"holdout_cutoff": meta["holdout_cutoff"], "horizon_days": meta["horizon_days"]}


def _log_candidate(r: CandidateResult, data: TrainingData, meta: dict[str, Any]) -> None:
    _, yho = split_xy(data.holdout)
    mlflow.log_params(candidate_params(r, meta))
    data.log_inputs()
    mlflow.log_metrics(holdout_names(_finite(r.metrics)))
    for fname, fig in make_plots(yho, r.holdout_proba, r.importance).items():
        mlflow.log_figure(fig, f"plots/{fname}")
    mlflow.log_dict({k: float(v) for k, v in r.importance.items()}, "feature_importance.json")


def _log_best(best: CandidateResult, data: TrainingData, explainer: Explainer) -> str:
    Xho, _ = split_xy(data.holdout)
    mlflow.set_tag("best", "true")
    example = _as_doubles(Xho.head(5))
    uri = _log_model(best.model, example, "predict_proba", best.model.predict_proba(example))
    mlflow.log_dict(explainer.to_dict(), EXPLAINER_FILE)
    mlflow.log_dict({"features": list(Xho.columns)}, "feature_columns.json")
    return uri


def log_training(
    settings: Settings,
    target: str,
    results: list[CandidateResult],
    best: CandidateResult,
    frames: tuple[pd.DataFrame, pd.DataFrame],
    explainer: Explainer,
    meta: dict[str, Any],
) -> dict[str, Any]:
    """Log one training: parent run, a child run per candidate, the best model. Returns run ids and model uri.

    ``frames`` = (train, holdout): features + label + cutoff per customer.
    """
    exp_id = ensure_experiment(settings, connect(settings), target)
    tags = run_tags(meta)
    data = TrainingData.of(target, *frames)
    snapshots = {"train_snapshot_sha256": data.train_hash, "holdout_snapshot_sha256": data.holdout_hash}
    child_ids: dict[str, str] = {}
    out: dict[str, Any] = {}
    run_name = f"train-{target}-{meta.get('as_of')}"
    with mlflow.start_run(
        experiment_id=exp_id, run_name=run_name, tags=tags | {"run_kind": "training"}
    ) as parent:
        _log_parent(target, data, results, best, meta)
        for r in results:
            child_tags = tags | snapshots | {"run_kind": "candidate", "candidate": r.name}
            with mlflow.start_run(
                experiment_id=exp_id, run_name=r.name, nested=True, tags=child_tags
            ) as child:
                child_ids[r.name] = child.info.run_id
                _log_candidate(r, data, meta)
                if r is best:
                    out = {"best_run_id": child.info.run_id, "model_uri": _log_best(r, data, explainer)}
    return {"parent_run_id": parent.info.run_id, "child_run_ids": child_ids, **out}


def log_uplift_training(
    settings: Settings,
    model: UpliftModel,
    frame: pd.DataFrame,
    metrics: dict[str, Any],
    validation: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    meta: dict[str, Any],
) -> dict[str, str]:
    """Log one uplift training as a run of ``proactive-uplift``; returns its run id and model uri.

    ``frame`` = features + treatment + retained per decision (no customer ids); ``validation`` = (retained,
    predicted uplift, treatment) of the validation split, for the Qini plot.
    """
    exp_id = ensure_experiment(settings, connect(settings), "uplift")
    tags = run_tags(meta | {"target": "uplift"}) | {"run_kind": "uplift_training"}
    digest = snapshot_hash(frame)
    with mlflow.start_run(experiment_id=exp_id, run_name=f"train-uplift-{meta['as_of']}", tags=tags) as run:
        mlflow.log_params(meta | {"method": model.method, "base": model.base})
        mlflow.set_tag("train_snapshot_sha256", digest)
        mlflow.log_input(_dataset(frame, "uplift-train", digest, targets="retained"), context="training")
        mlflow.log_metrics(_finite(metrics))
        if validation is not None:
            x, q = qini_curve(*validation)
            mlflow.log_figure(qini_figure(x, q), "plots/qini.png")
        X = frame.drop(columns=["treatment", "retained", "decided"], errors="ignore")
        example = _as_doubles(X.head(5))
        uri = _log_model(model, example, "predict", model.predict_uplift(example))
        mlflow.log_dict({"features": list(X.columns)}, "feature_columns.json")
    return {"run_id": run.info.run_id, "model_uri": uri}
