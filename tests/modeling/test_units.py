"""Pure pieces of the model lifecycle: metrics, cutoffs, gates, pipelines, CLI wiring (reasons: test_reasons.py)."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd
import psycopg
import pytest
from tests.modeling.samples import feature_frame

from proactive_ml.errors import UserError
from proactive_ml.features.point_in_time import categorical_features, numeric_features
from proactive_ml.modeling.candidates import build_pipeline, permutation_importance_series
from proactive_ml.modeling.config import Gates, TrainingConfig, load_model_config, resolve_members
from proactive_ml.modeling.datasets import snapshot_hash, training_cutoffs
from proactive_ml.modeling.evaluate import evaluate_scores, top_k_metrics
from proactive_ml.modeling.train import decide_promotion


def test_top_k_lift_and_recall_by_hand() -> None:
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 1])
    p = np.array([0.9, 0.8, 0.7, 0.1, 0.2, 0.3, 0.1, 0.1, 0.1, 0.05])
    lift, recall = top_k_metrics(y, p, 0.2)  # top 2: one hit; base rate 0.3
    assert recall == pytest.approx(1 / 3)
    assert lift == pytest.approx(0.5 / 0.3)
    m = evaluate_scores(y, p)
    assert set(m) >= {
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
    }
    assert 0 <= m["roc_auc"] <= 1
    assert m["brier"] > 0


def test_training_cutoffs_leave_the_horizon_and_purge_overlap() -> None:
    cfg = TrainingConfig(
        horizon_days=30, n_train_cutoffs=4, cutoff_step_days=7, purge_gap=True, min_history_days=30
    )
    train, holdout = training_cutoffs(date(2026, 7, 1), cfg, data_start=date(2026, 1, 1))
    assert holdout == date(2026, 6, 1)
    assert train == [date(2026, 4, 11), date(2026, 4, 18), date(2026, 4, 25), date(2026, 5, 2)]
    assert all(
        (holdout - c).days >= 30 for c in train
    )  # every training label window closes before the holdout
    with pytest.raises(UserError, match="not enough history"):
        training_cutoffs(date(2026, 2, 15), cfg, data_start=date(2026, 1, 1))


def test_gate_needs_margin_and_floors() -> None:
    g = Gates(metric="roc_auc", min_improvement=0.005, floors={"roc_auc": 0.6})
    assert decide_promotion({"roc_auc": 0.70}, None, g)[0] is True
    assert decide_promotion({"roc_auc": 0.55}, None, g) == (False, "roc_auc 0.5500 is below the floor 0.6")
    ok, why = decide_promotion({"roc_auc": 0.803}, {"roc_auc": 0.800}, g)
    assert not ok
    assert "does not beat" in why
    assert decide_promotion({"roc_auc": 0.806}, {"roc_auc": 0.800}, g)[0] is True
    assert decide_promotion({"roc_auc": float("nan")}, None, g)[0] is False


def test_declared_candidates_build_fit_and_calibrate() -> None:
    cfg = load_model_config()
    kinds = {c["kind"] for c in cfg.candidates}
    assert {"logistic_regression", "hist_gradient_boosting"} <= kinds
    assert cfg.gates.min_improvement == 0.005
    assert cfg.gates.floors["roc_auc"] == 0.6
    X, y = feature_frame()
    from threadpoolctl import threadpool_limits

    def fast(spec: dict) -> dict:  # fewer boosting rounds: a fast test
        if spec["kind"] == "soft_voting":
            return spec | {"members": [fast(m) for m in spec["members"]]}
        if spec["kind"] == "hist_gradient_boosting":
            return spec | {"params": spec["params"] | {"max_iter": 20}}
        return spec

    for declared in cfg.candidates:
        spec = fast(declared)
        model = build_pipeline(spec, numeric_features(), categorical_features())
        singles = [s for _, s in model.estimators] if spec["kind"] == "soft_voting" else [model]
        for single in singles:
            assert type(single.named_steps["model"]).__name__ == "CalibratedClassifierCV"
            assert single.named_steps["model"].estimator.class_weight == "balanced"
        with threadpool_limits(limits=1, user_api="openmp"):
            p = model.fit(X, y).predict_proba(X)[:, 1]
        assert evaluate_scores(y, p)["roc_auc"] > 0.7, spec["name"]
    with pytest.raises(UserError, match="unknown candidate kind"):
        build_pipeline({"name": "x", "kind": "magic"}, ["a"], [])


def test_soft_vote_is_the_mean_of_its_members_calibrated_probabilities() -> None:
    X, y = feature_frame()
    members = [
        {"name": "a", "kind": "logistic_regression", "params": {"max_iter": 200}},
        {"name": "b", "kind": "dummy"},
    ]
    spec = {"name": "v", "kind": "soft_voting", "members": members}
    cols = (numeric_features(), categorical_features())
    p = build_pipeline(spec, *cols).fit(X, y).predict_proba(X)[:, 1]
    singles = [build_pipeline(m, *cols).fit(X, y).predict_proba(X)[:, 1] for m in members]
    assert np.allclose(p, np.mean(singles, axis=0))
    imp = permutation_importance_series(build_pipeline(spec, *cols).fit(X, y), X, y, n_repeats=1)
    assert imp.index[0] == "usage_change_30d"  # the strongest signal, found through the ensemble too


def test_ensemble_members_must_name_declared_single_candidates() -> None:
    single = {"name": "a", "kind": "dummy"}
    with pytest.raises(UserError, match="unknown or nested members"):
        resolve_members([single, {"name": "v", "kind": "soft_voting", "members": ["a", "zzz"]}], "x.yaml")
    resolved = resolve_members([single, {"name": "v", "kind": "soft_voting", "members": ["a"]}], "x.yaml")
    assert resolved[1]["members"] == [single]


def test_snapshot_hash_is_stable_and_content_sensitive() -> None:
    X, _ = feature_frame(50)
    assert snapshot_hash(X) == snapshot_hash(X.copy())
    Y = X.copy()
    Y.iloc[0, 0] += 1
    assert snapshot_hash(Y) != snapshot_hash(X)


def test_cli_registers_lifecycle_commands() -> None:
    from proactive_ml.cli import build_parser

    p = build_parser()
    args = p.parse_args(["train", "--target", "churn", "--as-of", "2026-07-01"])
    assert args.target == ["churn"]
    assert args.func.__name__ == "_train"
    assert p.parse_args(["score"]).target == ["churn", "need"]
    assert p.parse_args(["promote", "--target", "need", "--version", "3"]).version == "3"
    assert p.parse_args(["rollback", "--target", "churn"]).func.__name__ == "_rollback"
    assert p.parse_args(["promote", "--target", "uplift", "--version", "2"]).target == "uplift"
    assert p.parse_args(["train", "--target", "uplift"]).target == ["uplift"]
    assert p.parse_args(["ui", "--print-only"]).print_only is True


def test_ui_opens_the_demo_store_when_only_it_exists(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from proactive_ml.errors import UserError
    from proactive_ml.modeling.commands import ui_settings

    monkeypatch.setenv("PROACTIVE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("PROACTIVE_MLFLOW_TRACKING_URI", raising=False)
    assert ui_settings(None).data_dir == tmp_path / "data"  # nothing yet: the configured store
    (tmp_path / "data" / "demo").mkdir(parents=True)
    (tmp_path / "data" / "demo" / "mlflow.db").touch()
    assert ui_settings(None).data_dir == tmp_path / "data" / "demo"  # make demo ran: its store
    (tmp_path / "data" / "mlflow.db").touch()
    assert ui_settings(None).data_dir == tmp_path / "data"  # a real store exists: that one
    assert ui_settings(str(tmp_path / "data" / "demo")).data_dir == tmp_path / "data" / "demo"
    with pytest.raises(UserError, match="no such folder"):
        ui_settings(str(tmp_path / "nope"))


def test_feature_importance_title_fits_the_figure() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from proactive_ml.modeling.plots import importance_figure

    for n, length in ((3, 8), (20, 40)):
        imp = pd.Series({f"f{i}_{'x' * length}": i / 100 for i in range(n)})
        fig = importance_figure(imp)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        title = fig._suptitle.get_window_extent(canvas.get_renderer())  # noqa: SLF001
        axes = fig.axes[0].get_window_extent(canvas.get_renderer())
        assert fig.bbox.x0 <= title.x0
        assert title.x1 <= fig.bbox.x1
        assert axes.y1 <= title.y0
        assert title.y1 <= fig.bbox.y1


def test_ui_command_points_at_the_local_store(settings) -> None:  # type: ignore[no-untyped-def]
    from proactive_ml.modeling.registry import ui_command

    cmd = ui_command(settings, port=5001)
    assert cmd[1] == "ui"
    assert settings.resolved_mlflow_uri in cmd
    assert "5001" in cmd


def test_scores_table_keeps_history_and_replaces_a_rerun(wh) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime

    from proactive_ml.modeling.scoring import SCORE_COLUMNS, write_scores

    def frame(cutoff: date, score: float, n: int = 3) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "customer_id": [f"c{i}" for i in range(n)],
                "cutoff": cutoff,
                "target": "churn",
                "score": score,
                "model_name": "proactive-churn",
                "model_version": "4",
                "reason_1": "usage down 60% over 30 days",
                "reason_2": None,
                "reason_3": None,
                "scored_at": datetime(2026, 7, 1, 6, 0),
            }
        )[SCORE_COLUMNS]

    assert write_scores(wh, frame(date(2026, 6, 1), 0.1), date(2026, 6, 1), "churn") == 3
    write_scores(wh, frame(date(2026, 7, 1), 0.2), date(2026, 7, 1), "churn")
    write_scores(wh, frame(date(2026, 7, 1), 0.3, n=2), date(2026, 7, 1), "churn")  # rerun replaces
    got = wh.query(
        "SELECT cutoff, COUNT(*) AS n, MAX(score) AS s FROM scores GROUP BY cutoff ORDER BY cutoff"
    )
    assert got["n"].tolist() == [3, 2]
    assert got["s"].tolist() == [0.1, 0.3]
    row = wh.query(
        "SELECT reason_1, reason_2 FROM scores WHERE customer_id = 'c0' AND cutoff = :c",
        {"c": date(2026, 7, 1)},
    )
    assert row["reason_1"].iloc[0] == "usage down 60% over 30 days"
    assert row["reason_2"].isna().all()
    with pytest.raises((duckdb.IntegrityError, psycopg.IntegrityError), match=r"(?i)duplicate key"):
        wh.insert_frame("scores", frame(date(2026, 7, 1), 0.5, n=1), SCORE_COLUMNS)
