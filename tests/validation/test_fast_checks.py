"""The fast foreign-key check gives exactly the answers of the check it replaced; the key tracker, sized up front."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from proactive_ml.validation.keys import KeyTracker
from proactive_ml.validation.rules import MARK_JOIN_ROWS, known_mask, known_mask_arrow


def test_key_tracker_keeps_first_occurrences_across_chunks() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": pd.array(["a", "b", "a", None, "a", "b"], dtype="str"),
            "ts": pd.to_datetime(["2026-01-01"] * 4 + ["2026-01-02", "2026-01-01"]).astype("datetime64[us]"),
        }
    )
    for expected in (None, 1, 12):
        tracker = KeyTracker(("customer_id", "ts"), expected_rows=expected)
        assert tracker.later_duplicates(frame).tolist() == [False, False, True, False, False, True]
        assert tracker.later_duplicates(frame).tolist() == [True, True, True, False, True, True]


@pytest.mark.parametrize("n_ids", [0, 1, 1_000, 50_000])
def test_known_mask_matches_is_in(n_ids: int) -> None:
    rng = np.random.default_rng(3)
    words = np.array([f"c{i:07d}" for i in range(100_000)] + ["", "é", "x\x00y"], dtype=object)
    values = words[rng.integers(0, len(words), MARK_JOIN_ROWS + 1_000)]
    values[rng.random(len(values)) < 0.05] = None
    text = pa.array(values, type=pa.string())
    ids = pa.array(np.unique(words[rng.integers(0, len(words), n_ids)]).tolist(), type=pa.string())
    np.testing.assert_array_equal(known_mask(text, ids), known_mask_arrow(text, ids))
    np.testing.assert_array_equal(known_mask(text[:100], ids), known_mask_arrow(text[:100], ids))
