"""The one scoring path: the CLI (in process), the flow on threads and the flow on a local Dask cluster write
identical scores."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from flows.outreach import score_flow, task_runner
from proactive_ml.cli import main
from proactive_ml.modeling.train import train_and_register
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


def _stored(root: Path) -> pd.DataFrame:
    with Warehouse.connect(f"duckdb:///{root / 'warehouse.duckdb'}") as wh:
        return wh.query("SELECT * FROM scores WHERE target = 'churn' ORDER BY customer_id")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("scoring") / "data"
    s = Settings(data_dir=root, _env_file=None)  # type: ignore[call-arg]
    with Warehouse.connect(s.resolved_warehouse_url) as wh:
        load_raw_tables(wh, make_raw_tables(300, 200, seed=11))
        train_and_register(wh, s, AS_OF.date(), target="churn", candidates=LOGREG)
    return {"overrides": {"data_dir": str(root), "partitions": 3}, "root": Path(root)}


def test_cli_threads_and_dask_write_identical_scores(
    prefect_harness: None,
    trained: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PROACTIVE_DATA_DIR", str(trained["root"]))
    assert main(["score", "--target", "churn", "--as-of", AS_OF.date().isoformat()]) == 0
    assert '"model_version": "1"' in capsys.readouterr().out
    cli = _stored(trained["root"]).drop(columns=["scored_at"])

    threaded = score_flow.with_options(task_runner=task_runner("thread"))(
        AS_OF.isoformat(), ["churn"], trained["overrides"]
    )["churn"]
    assert_same = pd.testing.assert_frame_equal
    assert_same(_stored(trained["root"]).drop(columns=["scored_at"]), cli)  # a rerun replaced the CLI's rows
    dask = score_flow.with_options(task_runner=task_runner("dask"))(
        AS_OF.isoformat(), ["churn"], trained["overrides"]
    )["churn"]
    assert len(dask) == len(cli) > 100
    assert_same(dask.reset_index(drop=True), threaded.reset_index(drop=True))
    assert_same(_stored(trained["root"]).drop(columns=["scored_at"]), cli)  # Dask's rows == the CLI's rows
