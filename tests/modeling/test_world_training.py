"""Features, labels and training on the simulated World (the shared simulator of src/proactive_ml/world)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from proactive_ml.features.labels import build_labels
from proactive_ml.features.point_in_time import build_features, feature_names
from proactive_ml.sim.small_company import load_raw_tables
from proactive_ml.sim.world import World, WorldConfig
from proactive_ml.warehouse import Warehouse

N_DAYS = 150


def world_tables(
    n_customers: int = 500, days: int = N_DAYS, seed: int = 5
) -> tuple[dict[str, pd.DataFrame], World]:
    """Simulate ``days`` days and fold the daily batches into raw tables (customers/tickets: last row wins)."""
    world = World(WorldConfig(n_customers=n_customers, seed=seed))
    parts: dict[str, list[pd.DataFrame]] = {}
    for _ in range(days):
        for name, df in world.step().items():
            parts.setdefault(name, []).append(df)
    tables = {}
    for name, frames in parts.items():
        df = pd.concat([f for f in frames if len(f)], ignore_index=True)
        key = {"customers": "customer_id", "tickets": "ticket_id"}.get(name)
        if key:
            df = df.drop_duplicates(key, keep="last")
        tables[name] = df
    return tables, world


@pytest.fixture(scope="module")
def world_wh(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tables, world = world_tables()
    wh = Warehouse.connect(f"duckdb:///{tmp_path_factory.mktemp('world') / 'wh.duckdb'}")
    load_raw_tables(wh, tables)
    yield wh, world
    wh.close()


def test_world_features_and_labels(world_wh) -> None:  # type: ignore[no-untyped-def]
    wh, world = world_wh
    cutoff = world.today - timedelta(days=40)
    X = build_features(wh, cutoff)
    y = build_labels(wh, cutoff, 30)
    assert list(X.columns) == feature_names()
    assert len(X) > 300
    assert X.index.equals(y.index)
    assert 0 < y["churn"].mean() < 0.5
    assert 0 < y["need"].mean() < 1
    assert X["usage_30d"].sum() > 0
    assert X["last_nps"].notna().any()
    assert X["tickets_30d"].sum() > 0
    # later churners already look less engaged before the cutoff
    churners = X[y["churn"] == 1]
    stayers = X[y["churn"] == 0]
    assert churners["active_days_30d"].mean() < stayers["active_days_30d"].mean()


@pytest.mark.slow
def test_world_training_beats_the_floor(world_wh, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from proactive_ml.modeling.train import train_and_register
    from proactive_ml.settings import Settings

    wh, world = world_wh
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
    out = train_and_register(wh, settings, world.today + timedelta(days=1), target="churn")
    assert out["promoted"]
    assert out["champion_version"] == "1"
    assert max(m["roc_auc"] for m in out["metrics"].values()) >= 0.6
