"""The storage layer behaves the same on the embedded default and on PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pytest

from proactive_ml.warehouse import Warehouse, WarehouseError


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": ["x", None, "it's"],
            "b": [1, 2, 3],
            "c": [1.5, None, -2.0],
            "d": pd.to_datetime(["2026-01-01 10:00:00", None, "2026-02-03 04:05:06"]),
            "e": [True, False, True],
        }
    )


def test_insert_and_query_round_trip(wh: Warehouse) -> None:
    wh.execute("CREATE TABLE t (a TEXT, b BIGINT, c DOUBLE PRECISION, d TIMESTAMP, e BOOLEAN)")
    assert wh.insert_frame("t", _frame()) == 3
    out = wh.query("SELECT * FROM t WHERE b >= :lo ORDER BY b", {"lo": 1})
    assert out["a"].tolist()[0] == "x"
    assert out["a"].tolist()[2] == "it's"
    assert pd.isna(out["a"][1])
    assert pd.isna(out["c"][1])
    assert pd.isna(out["d"][1])
    assert out["d"][2] == pd.Timestamp("2026-02-03 04:05:06")
    assert out["e"].tolist() == [True, False, True]
    assert wh.row_count("t") == 3
    assert wh.table_exists("t")
    assert not wh.table_exists("missing")


def test_transaction_is_all_or_nothing(wh: Warehouse) -> None:
    wh.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT)")

    def crash_mid_batch() -> None:
        with wh.transaction():
            wh.execute("INSERT INTO t VALUES (:k, :v)", {"k": "a", "v": 1})
            wh.insert_frame("t", pd.DataFrame({"k": ["b", "c"], "v": [2, 3]}))
            raise RuntimeError("crash mid-batch")

    with pytest.raises(RuntimeError, match="crash mid-batch"):
        crash_mid_batch()
    assert wh.row_count("t") == 0
    with wh.transaction(), wh.transaction():  # nested joins the outer one
        wh.execute("INSERT INTO t VALUES (:k, :v)", {"k": "a", "v": 1})
    assert wh.scalar("SELECT v FROM t WHERE k = :k", {"k": "a"}) == 1


def test_on_conflict_do_nothing_and_staged(wh: Warehouse) -> None:
    wh.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT)")
    wh.execute("INSERT INTO t VALUES ('a', 1)")
    wh.execute("INSERT INTO t VALUES ('a', 2) ON CONFLICT DO NOTHING")
    assert wh.scalar("SELECT v FROM t") == 1
    with wh.staged(pd.DataFrame({"k": ["a", "b"], "v": [9, 9]}), "s") as s:
        wh.execute(f"INSERT INTO t SELECT * FROM {s} WHERE k NOT IN (SELECT k FROM t)")
    assert wh.query("SELECT k, v FROM t ORDER BY k").values.tolist() == [["a", 1], ["b", 9]]


def test_unknown_url_is_a_clear_error() -> None:
    with pytest.raises(WarehouseError, match="unsupported warehouse URL"):
        Warehouse.connect("mysql://nope")


def test_unreachable_postgres_is_a_clear_error() -> None:
    with pytest.raises(WarehouseError, match="cannot connect to PostgreSQL"):
        Warehouse.connect("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2")
