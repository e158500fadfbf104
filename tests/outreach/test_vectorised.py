"""The vectorised outreach steps give exactly what their row-by-row definitions give, on seeded samples.

Each ``_reference_*`` below is the former row-by-row implementation, kept here as the definition.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from proactive_ml.outreach.inputs import reason_lists
from proactive_ml.outreach.signals import days_to_anniversary


def _reference_days_to_anniversary(signup: pd.Series, as_of: date) -> pd.Series:
    s = pd.to_datetime(signup, errors="coerce")
    ref = pd.Timestamp(as_of)
    out = []
    for d in s:
        if pd.isna(d):
            out.append(np.nan)
            continue
        try:
            nxt = d.replace(year=ref.year)
        except ValueError:
            nxt = d.replace(year=ref.year, day=28)
        if nxt.normalize() < ref.normalize():
            try:
                nxt = nxt.replace(year=ref.year + 1)
            except ValueError:
                nxt = nxt.replace(year=ref.year + 1, day=28)
        out.append(float((nxt.normalize() - ref.normalize()).days))
    return pd.Series(out, index=signup.index, dtype=float)


def _reference_reason_lists(reasons: pd.DataFrame) -> pd.Series:
    rows = reasons.itertuples(index=False, name=None)
    return pd.Series([[r for r in rs if isinstance(r, str) and r] for rs in rows], index=reasons.index)


@pytest.mark.parametrize(
    "as_of",
    [
        date(2026, 2, 28),
        date(2027, 3, 1),
        date(2028, 2, 29),
        date(2028, 3, 1),
        date(2027, 2, 28),
        date(2026, 12, 31),
    ],
)
def test_days_to_anniversary_equals_the_row_by_row_definition(as_of: date) -> None:
    rng = np.random.default_rng(7)
    seconds = rng.integers(0, 12 * 365 * 86400, 3000)
    signup = pd.Series(
        pd.Timestamp("2015-01-01") + pd.to_timedelta(seconds, unit="s"), index=rng.permutation(3000)
    )
    signup.iloc[::37] = pd.NaT
    leap = pd.Series(
        [pd.Timestamp("2016-02-29 13:00"), pd.Timestamp("2020-02-29"), pd.Timestamp("2019-03-01")]
    )
    for s in (signup, leap, signup.dt.date.astype(object), signup.iloc[:0]):
        pd.testing.assert_series_equal(
            days_to_anniversary(s, as_of), _reference_days_to_anniversary(s, as_of)
        )


def test_days_to_anniversary_by_hand() -> None:
    s = pd.Series([date(2020, 2, 29), None, "2019-03-01", "not a date", date(2025, 11, 24)], dtype=object)
    assert days_to_anniversary(s, date(2027, 3, 1)).fillna(-1).tolist() == [364.0, -1, 0.0, -1, 268.0]
    assert days_to_anniversary(s, date(2028, 2, 28)).fillna(-1).tolist() == [1.0, -1, 2.0, -1, 270.0]


def _reasons_sample(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    codes = np.array(["tickets_open", "", None, "nps_low", "usage_drop"], dtype=object)
    cols = {f"reason_{i}": codes[rng.integers(0, len(codes), n)] for i in (1, 2, 3)}
    return pd.DataFrame(cols, index=rng.permutation(n))


@pytest.mark.parametrize(
    "frame",
    [
        _reasons_sample(2000),
        _reasons_sample(2000).astype(pd.ArrowDtype(pa.string())),
        _reasons_sample(2000).assign(reason_2=None),  # a column with no reason at all
        _reasons_sample(2000).assign(reason_3=1.5),  # not text: left out, row by row
        _reasons_sample(2000).assign(reason_1=""),
        _reasons_sample(0),
    ],
    ids=["str", "arrow", "none", "number", "empty-text", "no-rows"],
)
def test_reason_lists_equal_the_row_by_row_definition(frame: pd.DataFrame) -> None:
    got, want = reason_lists(frame), _reference_reason_lists(frame)
    assert got.index.equals(want.index)
    assert got.tolist() == want.tolist()


def test_reason_lists_by_hand() -> None:
    f = pd.DataFrame({"reason_1": ["a", None, ""], "reason_2": ["b", "c", None], "reason_3": [None, "d", ""]})
    assert reason_lists(f).tolist() == [["a", "b"], ["c", "d"], []]
