"""The world's files: landing layout and formats, simulate_to_landing, save/load."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from proactive_ml.contract import DATASETS, PLANS
from proactive_ml.sim.world import World, WorldConfig, simulate_to_landing
from proactive_ml.sim.world.text import CS_OWNERS, SUPPORT_AGENTS, TICKET_SUBJECTS


@pytest.fixture(scope="module")
def two_days() -> tuple[World, dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    world = World(WorldConfig(n_customers=400, seed=9))
    first = world.step()
    for _ in range(4):
        world.step()
    return world, first, world.step()


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_write_landing_round_trips(fmt: str, tmp_path: Path, two_days) -> None:
    world, first, _ = two_days
    paths = world.write_landing(first, tmp_path, fmt=fmt)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in paths) == sorted(
        f"{name}/2026-01-01.{fmt}" for name in DATASETS if len(first[name])
    )
    assert not list(tmp_path.rglob("*.part"))
    for path in paths:
        name = path.parent.name
        ds = DATASETS[name]
        if fmt == "parquet":
            back = pq.read_table(path)
            assert back.column_names == ds.column_names
            types = dict(zip(back.column_names, back.schema.types, strict=True))
            for col in ds.columns:
                if col.type == "timestamp":
                    assert types[col.name] == pa.timestamp("us")
                elif col.type == "date":
                    assert types[col.name] == pa.date32()
            df = back.to_pandas(date_as_object=False)
        elif fmt == "csv":
            raw = path.read_text(encoding="utf-8").splitlines()
            assert raw[0].replace('"', "") == ",".join(ds.column_names)
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
        else:
            lines = path.read_text(encoding="utf-8").splitlines()
            rows = [json.loads(line) for line in lines]
            assert list(rows[0]) == ds.column_names
            df = pd.DataFrame(rows)
        assert len(df) == len(first[name])
        ts_cols = [c.name for c in ds.columns if c.type == "timestamp"]
        for col in ts_cols:
            got = pd.to_datetime(df[col].replace("", None))
            want = first[name][col]
            assert (got.isna().to_numpy() == want.isna().to_numpy()).all()
            assert (got.dropna().to_numpy() == want.dropna().to_numpy()).all()
            if fmt != "parquet":
                text_ts = df[col][df[col].astype(bool) & df[col].notna()]
                assert text_ts.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").all()
        if name == "customers" and fmt != "parquet":
            assert df.signup_date.str.fullmatch(r"\d{4}-\d\d-\d\d").all()
            assert set(df.marketing_consent.astype(str).str.lower()) == {"true", "false"}
        key = list(ds.key)
        assert list(df[key].astype(str).itertuples(index=False)) == list(
            first[name][key].astype(str).itertuples(index=False)
        ) or ds.key == ("customer_id", "ts", "feature")


def test_empty_datasets_get_no_file(tmp_path: Path, two_days) -> None:
    world, first, _ = two_days
    batch = dict(first, feedback=first["feedback"].iloc[0:0], tickets=first["tickets"].iloc[0:0])
    paths = world.write_landing(batch, tmp_path, fmt="csv")
    assert {p.parent.name for p in paths} == {"customers", "usage_events"}
    with pytest.raises(ValueError, match="format"):
        world.write_landing(first, tmp_path, fmt="xlsx")


def test_later_batches_are_named_by_their_day(tmp_path: Path, two_days) -> None:
    world, _, last = two_days
    paths = world.write_landing(last, tmp_path, fmt="parquet")
    assert {p.name for p in paths} == {"2026-01-06.parquet"}


def test_save_load_round_trip(tmp_path: Path) -> None:
    world = World(WorldConfig(n_customers=300, seed=4))
    for _ in range(3):
        world.step()
    path = world.save(tmp_path / "w" / "world.pkl")
    again = World.load(path)
    assert again.today == world.today
    pd.testing.assert_frame_equal(again.truth(), world.truth())
    for _ in range(3):
        a, b = world.step(), again.step()
        for name in DATASETS:
            pd.testing.assert_frame_equal(a[name], b[name])
    (tmp_path / "bad.pkl").write_bytes(b"\x80\x05N.")  # pickled None
    with pytest.raises(TypeError):
        World.load(tmp_path / "bad.pkl")


def test_simulate_to_landing(tmp_path: Path) -> None:
    out = simulate_to_landing(
        tmp_path / "landing",
        n_customers=200,
        days=5,
        start=date(2026, 3, 1),
        seed=1,
        fmt="csv",
        progress=False,
        world_path=tmp_path / "world.pkl",
    )
    files = sorted((tmp_path / "landing").rglob("*.csv"))
    assert out["files"] == len(files)
    assert out["end"] == "2026-03-05"
    assert {f.name for f in (tmp_path / "landing" / "usage_events").iterdir()} == {
        f"2026-03-0{d}.csv" for d in range(1, 6)
    }
    usage = pd.concat(pd.read_csv(f) for f in (tmp_path / "landing" / "usage_events").iterdir())
    assert len(usage) == out["rows"]["usage_events"] > 0
    world = World.load(tmp_path / "world.pkl")
    assert world.today == date(2026, 3, 5)
    assert out["world"]["customers"] == world.n


def test_simulate_to_landing_with_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = simulate_to_landing(tmp_path, n_customers=50, days=2, fmt="jsonl", progress=True)
    assert out["rows"]["customers"] >= 50
    assert "simulating" in capsys.readouterr().out


def test_world_fills_locale_owner_ticket_subject_and_assignee() -> None:
    world = World(WorldConfig(n_customers=400, seed=3))
    tables = [world.step_tables() for _ in range(10)]
    customers = tables[0]["customers"].to_pandas()
    assert customers["locale"].notna().all()
    assert {"en-US", "de-DE"} <= set(customers["locale"])
    owned = customers["plan"].map(PLANS.index) >= PLANS.index("pro")
    assert customers.loc[owned, "owner"].isin(CS_OWNERS).all()
    assert customers.loc[~owned, "owner"].isna().all()
    tickets = pd.concat([t["tickets"].to_pandas() for t in tables])
    assert len(tickets) > 0
    for row in tickets.itertuples():
        assert row.subject in TICKET_SUBJECTS[row.category]
        assert row.assignee in SUPPORT_AGENTS


def test_write_export_lands_several_days_as_one_file_per_dataset(tmp_path: Path) -> None:
    from proactive_ml.sim.demo import write_export

    daily, export = World(WorldConfig(n_customers=300, seed=4)), World(WorldConfig(n_customers=300, seed=4))
    days = [daily.step() for _ in range(3)]
    paths = write_export(export, 3, tmp_path)
    assert export.today == daily.today
    assert {p.name for p in paths} == {f"{daily.today.isoformat()}.csv"}  # named by the export's last day
    landed = {p.parent.name: pd.read_csv(p) for p in paths}
    for name, ds in DATASETS.items():
        rows = pd.concat([d[name] for d in days], ignore_index=True)
        if ds.upsert:  # one row per key, the latest: customers and tickets are re-emitted when they change
            rows = rows.drop_duplicates(list(ds.key), keep="last")
        assert len(landed.get(name, [])) == len(rows), name
        if len(rows):
            assert landed[name][ds.key[0]].astype(str).tolist() == rows[ds.key[0]].astype(str).tolist()
