"""The one scoring path's pure parts: stable partitions, one model load per version and process, assembly."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from proactive_ml.modeling import registry, scoring
from proactive_ml.modeling.scoring import (
    SCORE_COLUMNS,
    assemble_scores,
    partition_of,
    split_partitions,
    write_scores,
)
from proactive_ml.settings import Settings


def test_partitions_on_threads_load_a_model_version_once(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    """Concurrent first loads raced (and tripped CPython 3.11's AST check inside skops); now the first loads and
    the others wait for it."""
    calls: list[str] = []

    def slow_load(s: Settings, target: str, version: str) -> tuple[Any, dict[str, Any]]:
        calls.append(version)
        time.sleep(0.2)
        return object(), {}

    monkeypatch.setattr(scoring, "_MODEL_CACHE", {})
    monkeypatch.setattr(registry, "load_version", slow_load)
    got: list[Any] = []
    threads = [
        threading.Thread(target=lambda: got.append(scoring.load_model_version(settings, "churn", "7")))
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


def test_partition_is_the_documented_hash_of_the_id() -> None:
    ids = pd.Index(["C00001", "", "é-ü", "a" * 70, "c00999999", "42"])
    want = [int(hashlib.blake2b(i.encode(), digest_size=4).hexdigest(), 16) % 7 for i in ids]
    assert partition_of(ids, 7).tolist() == want  # the same parts as ever: same batches, same floating point
    assert partition_of(pd.Index([], dtype=object), 4).tolist() == []


def test_assembled_scores_are_table_rows_sorted_by_customer(settings: Settings) -> None:
    parts = [
        pd.DataFrame(
            {"score": [0.2], "reason_1": ["r"], "reason_2": [None], "reason_3": [None]}, index=["c2"]
        ),
        pd.DataFrame(
            {"score": [0.9, 0.1], "reason_1": [None] * 2, "reason_2": [None] * 2, "reason_3": [None] * 2},
            index=["c3", "c1"],
        ),
    ]
    at = datetime(2026, 7, 1, 14)
    out = assemble_scores(parts, settings, "churn", "3", at, scored_at=at)
    assert list(out.columns) == SCORE_COLUMNS
    assert out["customer_id"].tolist() == ["c1", "c2", "c3"]
    assert np.allclose(out["score"], [0.1, 0.2, 0.9])
    assert set(out["model_name"]) == {"proactive-churn"}
    assert set(out["model_version"]) == {"3"}
    assert set(out["cutoff"]) == {at.date()}


def test_partition_of_ids_that_are_not_text_hashes_their_text() -> None:
    ids = pd.Index([7, 42, 1001])
    want = [int(hashlib.blake2b(str(i).encode(), digest_size=4).hexdigest(), 16) % 5 for i in ids]
    assert partition_of(ids, 5).tolist() == want


def _former_assemble(
    parts: list[pd.DataFrame], settings: Settings, version: str, at: datetime
) -> pd.DataFrame:
    """assemble_scores as it was before one stable sort of the ids replaced ``concat().sort_index()``."""
    scored = pd.concat(parts).sort_index()
    scored.insert(0, "customer_id", scored.index.astype(str))
    scored = scored.reset_index(drop=True)
    scored["cutoff"] = at.date()
    scored["target"] = "churn"
    scored["model_name"] = registry.model_name(settings, "churn")
    scored["model_version"] = version
    scored["scored_at"] = at
    return scored[SCORE_COLUMNS]


def test_assembly_equals_the_former_concat_and_sort(settings: Settings) -> None:
    rng = np.random.default_rng(3)
    ids = pd.Index([f"C{i:05d}" for i in rng.permutation(2000)] + ["é-ü", "Zed", ""], dtype=object)
    reasons = np.array(["usage down 60% over 30 days", None, "NPS 3 last week"], dtype=object)
    frame = pd.DataFrame(
        {
            "score": rng.random(len(ids)),
            "reason_1": reasons[rng.integers(0, 3, len(ids))],
            "reason_2": reasons[rng.integers(0, 3, len(ids))],
            "reason_3": np.full(len(ids), None, dtype=object),
        },
        index=ids,
    )
    parts = split_partitions(frame.sort_index(), 4)
    at = datetime(2026, 7, 1, 14)
    got = assemble_scores(parts, settings, "churn", "3", at, scored_at=at)
    pd.testing.assert_frame_equal(got, _former_assemble(parts, settings, "3", at), check_exact=True)


def test_scores_written_as_arrow_read_back_as_the_former_insert(wh) -> None:  # type: ignore[no-untyped-def]
    """write_scores (one Arrow table) stores exactly what inserting the frame stored, text and NULLs included."""
    at = datetime(2026, 7, 1, 6)
    rows = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "é-ü"],
            "cutoff": date(2026, 7, 1),
            "target": "churn",
            "score": [0.25, 0.5, 1e-13],
            "model_name": "proactive-churn",
            "model_version": "4",
            "reason_1": ["usage down 60% over 30 days", None, 'quote " and, comma'],
            "reason_2": [None, None, "NPS 3 last week"],
            "reason_3": [None, None, None],
            "scored_at": at,
        }
    )[SCORE_COLUMNS]
    assert write_scores(wh, rows, date(2026, 7, 1), "churn") == 3
    former = rows.assign(cutoff=date(2026, 7, 2))
    wh.insert_frame("scores", former, SCORE_COLUMNS)
    read = wh.query("SELECT * FROM scores ORDER BY cutoff, customer_id")
    new, old = read.iloc[:3].reset_index(drop=True), read.iloc[3:].reset_index(drop=True)
    pd.testing.assert_frame_equal(new.drop(columns="cutoff"), old.drop(columns="cutoff"), check_exact=True)
    assert write_scores(wh, rows.iloc[:0], date(2026, 7, 1), "churn") == 0  # an empty day clears the day
    assert wh.scalar("SELECT count(*) FROM scores WHERE cutoff = :c", {"c": date(2026, 7, 1)}) == 0
