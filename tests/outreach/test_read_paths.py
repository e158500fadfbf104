"""The outreach reads' fast paths give what the plain ones they replace gave, on both backends.

Feature popularity by per-customer feature bits against the distinct count per feature; the candidate queries
fetched as Arrow (:meth:`Warehouse.frame`) against :meth:`Warehouse.query`; the latest survey answer without a
groupby against ``groupby(...).tail(1)``; ``same_ids`` by hand.
"""

from __future__ import annotations

import functools
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from proactive_ml.outreach import facts, inputs
from proactive_ml.outreach.keys import same_ids
from proactive_ml.outreach.signals import _last_answers
from proactive_ml.sim.content_world import content_world
from proactive_ml.sim.small_company import at, end_date, load_raw_tables
from proactive_ml.warehouse import Warehouse

AS_OF = at(end_date(120))


def _world(wh: Warehouse) -> None:
    """The content world, plus two new features used by the same two customers (a tie, broken by name)."""
    tables = content_world(n_customers=40)
    load_raw_tables(wh, tables)
    ids = tables["customers"]["customer_id"].astype(str).tolist()[:2]
    ts = pd.Timestamp(AS_OF - timedelta(days=3))
    extra = pd.DataFrame(
        {
            "customer_id": ids * 3,
            "ts": ts,
            "feature": ["zz_tie_b", "zz_tie_b", "zz_tie_a", "zz_tie_a", "zz_tie_a", "zz_tie_a"],
            "quantity": 1,
        }
    )
    wh.insert_frame("usage_events", extra)


def test_feature_popularity_equals_the_distinct_count(wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    _world(wh)
    expected = facts._popularity_by_distinct(wh, AS_OF)
    assert len(expected) > 5
    assert expected.index("zz_tie_a") + 1 == expected.index("zz_tie_b")
    assert facts.feature_popularity(wh, AS_OF) == expected  # DuckDB: bits by hash; PostgreSQL: by CASE
    by_case = functools.partial(facts._feature_bits, hashed=False)
    monkeypatch.setattr(facts, "_feature_bits", by_case)
    assert facts.feature_popularity(wh, AS_OF) == expected  # bits by CASE on both
    monkeypatch.setattr(facts, "MAX_FEATURE_BITS", 3)
    assert facts.feature_popularity(wh, AS_OF) == expected  # too many features for the bits: the plain count
    assert facts.feature_popularity(wh, AS_OF - timedelta(days=3000)) == []  # nothing in the window


def test_candidate_reads_as_arrow_equal_the_plain_query(wh: Warehouse) -> None:
    _world(wh)
    readers = [
        lambda: inputs.latest_scores(wh, AS_OF),
        lambda: inputs._customers(wh),
        lambda: inputs._usage(wh, AS_OF),
        lambda: inputs._open_tickets(wh, AS_OF),
        lambda: inputs._feedback(wh, AS_OF),
        lambda: inputs._spend(wh, AS_OF),
    ]
    fast = [read() for read in readers]
    wh.frame = wh.query  # type: ignore[method-assign]
    plain = [read() for read in readers]
    assert sum(len(f) for f in fast) > 100
    for got, want in zip(fast, plain, strict=True):
        order = list(want.columns)
        pd.testing.assert_frame_equal(
            got.sort_values(order).reset_index(drop=True), want.sort_values(order).reset_index(drop=True)
        )


def test_frame_gives_the_types_query_gives(duck: Warehouse) -> None:
    duck.execute(
        """CREATE TABLE t AS SELECT * FROM (VALUES
             ('a', DATE '2020-01-01', TIMESTAMP '2020-01-01 10:00:00', 1::BIGINT, 1.5::DOUBLE, true, NULL::VARCHAR),
             (NULL, NULL, NULL, NULL, NULL, NULL, NULL)) v(s, d, ts, i, f, b, n)"""
    )
    for sql in (
        "SELECT * FROM t",
        "SELECT * FROM t WHERE false",
        "SELECT * FROM t WHERE s = :s",
        "SELECT s, sum(i) AS si, sum(f) AS sf, count(*) AS c FROM t GROUP BY s ORDER BY s",
    ):
        params = {"s": "a"} if ":s" in sql else None
        pd.testing.assert_frame_equal(duck.frame(sql, params), duck.query(sql, params), check_exact=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_last_answers_equal_the_groupby_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    ids = pd.Series(rng.integers(0, 60, n).astype(str), dtype="str")
    ids[::23] = None
    feedback = pd.DataFrame(
        {
            "customer_id": ids,
            "survey_type": rng.choice(["NPS", "CSAT"], n),
            "ts": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 30, n), unit="D"),  # many ties
            "score": rng.integers(0, 11, n),
        }
    )
    for kind in ("NPS", "CSAT"):
        f = feedback[feedback["survey_type"] == kind]
        f = f.assign(customer_id=f["customer_id"].astype(str), ts=pd.to_datetime(f["ts"]))
        want = f.sort_values("ts").groupby("customer_id").tail(1).set_index("customer_id")
        pd.testing.assert_frame_equal(_last_answers(feedback, kind), want)


def test_same_ids_by_hand() -> None:
    a = pd.Series(["C1", "C2", None], dtype="str")
    assert same_ids(a, pd.Index(a))
    assert not same_ids(a, pd.Series(["C2", "C1", None], dtype="str"))
    assert not same_ids(a, a.iloc[:2])
    assert not same_ids(pd.Series([1, 2]), pd.Series([1, 2]))  # not text: the caller takes the general path
