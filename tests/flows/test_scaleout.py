"""Partitioned scoring: thread runner, a local Dask cluster and the single-process scorer agree exactly."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from proactive_ml.modeling.partitions import partition_of, split_partitions
from proactive_ml.settings import Settings
from proactive_ml.sim.small_company import end_date, load_raw_tables, make_raw_tables
from proactive_ml.warehouse import Warehouse

AS_OF = datetime.combine(end_date(200), datetime.min.time())
LOGREG = [
    {
        "name": "logreg_l2",
        "kind": "logistic_regression",
        "params": {"C": 0.3, "class_weight": "balanced", "max_iter": 500},
    }
]


def test_partitions_on_threads_load_a_model_version_once(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    """Concurrent first loads raced (and tripped CPython 3.11's AST check inside skops); now the first loads and
    the others wait for it."""
    import threading
    import time

    from proactive_ml.modeling import partitions as scaleout

    calls: list[str] = []

    def slow_fetch(s: Settings, target: str, version: str) -> tuple[Any, dict[str, Any]]:
        calls.append(version)
        time.sleep(0.2)
        return object(), {}

    monkeypatch.setattr(scaleout, "_MODEL_CACHE", {})
    monkeypatch.setattr(scaleout, "_fetch_version", slow_fetch)
    got: list[Any] = []
    threads = [
        threading.Thread(target=lambda: got.append(scaleout._load_version(settings, "churn", "7")))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["7"]
    assert len(got) == 4
    assert all(g is got[0] for g in got)


def test_partitions_are_stable_disjoint_and_complete() -> None:
    ids = pd.Index([f"C{i:05d}" for i in range(1000)])
    a, b = partition_of(ids, 4), partition_of(ids, 4)
    assert (a == b).all()
    assert set(a) == {0, 1, 2, 3}
    frame = pd.DataFrame({"x": range(1000)}, index=ids)
    parts = split_partitions(frame, 4)
    assert sum(len(p) for p in parts) == 1000
    assert pd.concat(parts).sort_index().equals(frame.sort_index())


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from proactive_ml.modeling.scoring import score_customers
    from proactive_ml.modeling.train import train_and_register

    root = tmp_path_factory.mktemp("scaleout") / "data"
    s = Settings(data_dir=root, _env_file=None)  # type: ignore[call-arg]
    with Warehouse.connect(s.resolved_warehouse_url) as wh:
        load_raw_tables(wh, make_raw_tables(300, 200, seed=11))
        train_and_register(wh, s, AS_OF.date(), target="churn", candidates=LOGREG)
        single = score_customers(wh, s, AS_OF, target="churn")
    return {"overrides": {"data_dir": str(root), "partitions": 3}, "single": single, "root": Path(root)}


def test_dask_scores_equal_single_process_scores(prefect_harness: None, trained: dict[str, Any]) -> None:
    from flows.outreach import score_flow, task_runner

    threaded = score_flow.with_options(task_runner=task_runner("thread"))(
        AS_OF.isoformat(), ["churn"], trained["overrides"]
    )["churn"]
    dask = score_flow.with_options(task_runner=task_runner("dask"))(
        AS_OF.isoformat(), ["churn"], trained["overrides"]
    )["churn"]
    single = trained["single"].sort_values("customer_id").reset_index(drop=True)
    assert len(dask) == len(single) > 100
    pd.testing.assert_frame_equal(dask.reset_index(drop=True), threaded.reset_index(drop=True))
    pd.testing.assert_frame_equal(
        dask.drop(columns=["scored_at"]).reset_index(drop=True),
        single.drop(columns=["scored_at"]).reset_index(drop=True),
        check_dtype=False,
    )
    with Warehouse.connect(f"duckdb:///{trained['root'] / 'warehouse.duckdb'}") as wh:
        assert wh.scalar("SELECT count(*) FROM scores WHERE target = 'churn'") == len(single)
