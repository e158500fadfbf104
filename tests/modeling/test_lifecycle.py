"""Train -> MLflow -> registry gate -> score, on the small simulated company (one shared training per module)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from proactive_ml.errors import UserError
from proactive_ml.modeling import registry
from proactive_ml.modeling.scoring import score_customers
from proactive_ml.modeling.train import train_and_register
from proactive_ml.settings import Settings
from proactive_ml.sim.small_company import end_date, load_raw_tables, make_raw_tables
from proactive_ml.warehouse import Warehouse

N_DAYS = 200
AS_OF = end_date(N_DAYS)
# The declared candidates with fewer boosting rounds: same kinds, same pipeline, a faster test.
FAST = [
    {
        "name": "logreg_l2",
        "kind": "logistic_regression",
        "params": {"C": 0.3, "class_weight": "balanced", "max_iter": 500},
        "calibration": {"method": "sigmoid", "cv": 3},
    },
    {
        "name": "hist_gbm",
        "kind": "hist_gradient_boosting",
        "params": {
            "max_iter": 30,
            "learning_rate": 0.15,
            "max_leaf_nodes": 8,
            "min_samples_leaf": 30,
            "class_weight": "balanced",
        },
        "calibration": {"method": "sigmoid", "cv": 3},
    },
]
WORSE = [{"name": "always_base_rate", "kind": "dummy", "params": {"strategy": "prior"}}]
PII_MARKERS = ("@example.com", "User 1", "user1@")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("lifecycle")
    settings = Settings(data_dir=tmp / "data", _env_file=None)  # type: ignore[call-arg]
    wh = Warehouse.connect(f"duckdb:///{tmp / 'wh.duckdb'}")
    load_raw_tables(wh, make_raw_tables(400, N_DAYS, seed=7))
    first = train_and_register(wh, settings, AS_OF, target="churn", candidates=FAST)
    worse = train_and_register(wh, settings, AS_OF, target="churn", candidates=WORSE)
    yield {"settings": settings, "wh": wh, "first": first, "worse": worse, "tmp": tmp}
    wh.close()


def _client(settings: Settings) -> Any:
    return registry.connect(settings)


def test_training_logs_parent_and_nested_candidate_runs(trained: dict[str, Any]) -> None:
    s, first = trained["settings"], trained["first"]
    client = _client(s)
    exp = client.get_experiment_by_name("proactive-churn")
    assert exp is not None
    assert Path(exp.artifact_location.replace("file://", "")).is_relative_to(s.data_dir)
    parent = client.get_run(first["parent_run_id"])
    assert parent.data.params["target"] == "churn"
    assert parent.data.params["holdout_cutoff"] == first["holdout_cutoff"]
    assert parent.data.tags["train_snapshot_sha256"]
    assert parent.data.tags.get("git_commit")
    assert set(first["child_run_ids"]) == {"logreg_l2", "hist_gbm"}
    for name, run_id in first["child_run_ids"].items():
        run = client.get_run(run_id)
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        for m in (
            "roc_auc",
            "pr_auc",
            "brier",
            "log_loss",
            "lift_at_5",
            "lift_at_10",
            "lift_at_20",
            "recall_at_5",
            "recall_at_10",
            "recall_at_20",
        ):
            assert f"holdout_{m}" in run.data.metrics, (name, m)
        if run.data.tags.get("best") == "true":  # the parent shows the best candidate's under the same names
            for m in ("holdout_roc_auc", "holdout_pr_auc", "holdout_lift_at_10"):
                assert parent.data.metrics[m] == run.data.metrics[m], m
        assert run.data.params["kind"] in ("logistic_regression", "hist_gradient_boosting")
        plots = {f.path for f in client.list_artifacts(run_id, "plots")}
        assert plots == {
            f"plots/{p}.png"
            for p in ("roc", "precision_recall", "calibration", "gain_lift", "feature_importance")
        }
        inputs = run.inputs.dataset_inputs
        contexts = {next(t.value for t in i.tags if t.key == "mlflow.data.context") for i in inputs}
        assert contexts == {"training", "holdout"}
        digests = {i.dataset.digest for i in inputs}
        assert run.data.tags["train_snapshot_sha256"][:36] in digests
        columns = {c["name"] for i in inputs for c in json.loads(i.dataset.schema)["mlflow_colspec"]}
        assert "usage_30d" in columns
        assert "label" in columns
        assert not columns & {"customer_id", "email", "name"}
    assert first["metrics"]["logreg_l2"]["roc_auc"] > 0.7  # churn follows usage decline: learnable


def test_best_model_registered_with_signature_and_first_champion(trained: dict[str, Any]) -> None:
    s, first = trained["settings"], trained["first"]
    client = _client(s)
    assert first["promoted"] is True
    assert first["version"] == "1"
    assert "no champion yet" in first["reason"]
    mv = client.get_model_version("proactive-churn", "1")
    assert mv.tags["gate_decision"] == first["reason"]
    import mlflow

    info = mlflow.models.get_model_info("models:/proactive-churn@champion")
    assert info.signature is not None
    assert info.signature.inputs is not None
    assert "usage_change_30d" in info.signature.inputs.input_names()


def test_worse_challenger_is_never_promoted(trained: dict[str, Any]) -> None:
    s, worse = trained["settings"], trained["worse"]
    client = _client(s)
    assert worse["promoted"] is False
    assert worse["version"] == "2"
    assert worse["previous_champion_version"] == "1"
    assert worse["champion_version"] == "1"
    assert str(client.get_model_version_by_alias("proactive-churn", "champion").version) == "1"
    assert str(client.get_model_version_by_alias("proactive-churn", "challenger").version) == "2"
    reason = client.get_model_version("proactive-churn", "2").tags["gate_decision"]
    assert "below the floor" in reason or "does not beat" in reason


def test_no_pii_anywhere_in_mlflow(trained: dict[str, Any]) -> None:
    s = trained["settings"]
    client = _client(s)
    texts = []
    for run in client.search_runs([client.get_experiment_by_name("proactive-churn").experiment_id]):
        texts.append(json.dumps([run.data.params, run.data.tags, list(run.data.metrics)]))
        texts.extend(
            json.dumps([i.dataset.schema, i.dataset.profile, i.dataset.source])
            for i in run.inputs.dataset_inputs
        )
    for f in Path(s.resolved_artifact_root).rglob("*"):
        if (
            f.is_file()
            and f.suffix in (".json", ".yaml", ".txt", ".MLmodel", "")
            and f.stat().st_size < 2_000_000
        ):
            texts.append(f.read_text(errors="ignore"))
    blob = "\n".join(texts)
    assert "input_example" in blob or "usage_7d" in blob  # the scan did see the logged model files
    for marker in PII_MARKERS:
        assert marker not in blob


def test_scoring_uses_the_champion_and_writes_readable_reasons(trained: dict[str, Any]) -> None:
    s, wh = trained["settings"], trained["wh"]
    df = score_customers(wh, s, AS_OF, target="churn")
    from proactive_ml.features.point_in_time import build_features

    assert len(df) == len(build_features(wh, AS_OF))
    assert df["customer_id"].is_unique
    assert set(df["model_version"]) == {"1"}
    assert df["score"].between(0, 1).all()
    top = df.sort_values("score", ascending=False).head(20)
    assert top["reason_1"].notna().all()
    texts = [t for t in top[["reason_1", "reason_2", "reason_3"]].to_numpy().ravel() if t]
    assert all("{" not in t and "nan" not in t and len(t) > 5 for t in texts)
    assert any(("usage" in t or "active" in t or "actions" in t or "activity" in t) for t in texts)
    stored = wh.query("SELECT COUNT(*) AS n FROM scores WHERE target = 'churn'")["n"].iloc[0]
    score_customers(wh, s, AS_OF, target="churn")  # a rerun of the same cutoff replaces, never duplicates
    assert (
        wh.query("SELECT COUNT(*) AS n FROM scores WHERE target = 'churn'")["n"].iloc[0] == stored == len(df)
    )


def test_missing_champion_stops_scoring(trained: dict[str, Any]) -> None:
    other = Settings(data_dir=trained["settings"].data_dir, model_name_prefix="nobody", _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(UserError, match="no champion"):
        score_customers(trained["wh"], other, AS_OF, target="churn")
    assert (
        trained["wh"].query("SELECT COUNT(*) AS n FROM scores WHERE model_name LIKE 'nobody%'")["n"].iloc[0]
        == 0
    )


def test_promote_by_hand_then_rollback(trained: dict[str, Any]) -> None:
    s = trained["settings"]
    client = _client(s)
    assert str(client.get_model_version_by_alias("proactive-churn", "challenger").version) == "2"
    assert registry.promote(s, "churn", "2", reason="test") == "2"
    assert str(client.get_model_version_by_alias("proactive-churn", "champion").version) == "2"
    assert "challenger" not in client.get_registered_model("proactive-churn").aliases  # promoted: alias gone
    assert registry.rollback(s, "churn") == "1"
    assert str(client.get_model_version_by_alias("proactive-churn", "champion").version) == "1"
    assert client.get_model_version("proactive-churn", "2").tags["rolled_back"] == "replaced by version 1"
    with pytest.raises(UserError, match="no previous champion"):
        registry.rollback(s, "churn")
    with pytest.raises(UserError):
        registry.promote(s, "churn", "99")


def test_model_logging_leaves_the_process_environment_alone(settings: Settings) -> None:
    """Two targets train on parallel threads: MLflow's env-var tracker must not patch ``os.environ`` for both."""
    from mlflow.utils.model_utils import env_var_tracker

    registry.connect(settings)
    before = os._Environ.__getitem__
    with env_var_tracker() as names:
        assert os._Environ.__getitem__ is before  # no process-wide patch while a model is logged
        assert os.environ.get("PATH")
    assert names == set()
