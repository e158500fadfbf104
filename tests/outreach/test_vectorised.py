"""The vectorised outreach steps give exactly what their row-by-row definitions give, on seeded samples.

Each ``_reference_*`` below is the former row-by-row implementation, kept here as the definition.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from proactive_ml.outreach.exploration import add_exploration
from proactive_ml.outreach.inputs import combine, reason_lists
from proactive_ml.outreach.policy import consented, contact_block_reason, unit_hash
from proactive_ml.outreach.signals import build_signals, days_to_anniversary


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


def _reference_signals(
    customers: pd.DataFrame,
    usage: pd.DataFrame,
    tickets: pd.DataFrame,
    feedback: pd.DataFrame,
    as_of: datetime,
) -> pd.DataFrame:
    """The former build_signals: reindex and groupby over the customer ids."""
    ref = pd.Timestamp(as_of)
    idx = pd.Index(customers["customer_id"].astype(str), name="customer_id")
    out = pd.DataFrame(index=idx)
    signup = pd.to_datetime(customers["signup_date"], errors="coerce").to_numpy()
    out["tenure_days"] = (ref.normalize() - pd.DatetimeIndex(signup)).days.astype(float)
    out["days_to_renewal"] = _reference_days_to_anniversary(
        customers["signup_date"].set_axis(idx), ref.date()
    ).to_numpy()
    u = usage.set_index("customer_id")
    for col in ("usage_14d", "usage_prev_14d"):
        out[col] = pd.to_numeric(u[col], errors="coerce").reindex(idx).fillna(0.0).astype(float)
    prev = out["usage_prev_14d"]
    out["usage_trend"] = np.where(prev > 0, out["usage_14d"] / prev.where(prev > 0, 1.0), 1.0)
    t = tickets.assign(customer_id=tickets["customer_id"].astype(str))
    t["age"] = (ref - pd.to_datetime(t["opened_at"])).dt.total_seconds() / 86400.0
    g = t.groupby("customer_id")
    out["open_tickets"] = g.size().reindex(idx).fillna(0).astype(float)
    out["oldest_open_ticket_days"] = g["age"].max().reindex(idx)
    urgent = t[t["priority"].isin(["high", "urgent"])].groupby("customer_id").size()
    out["urgent_open_tickets"] = urgent.reindex(idx).fillna(0).astype(float)
    for kind, col in (("NPS", "last_nps"), ("CSAT", "last_csat")):
        f = feedback[feedback["survey_type"] == kind]
        f = f.assign(customer_id=f["customer_id"].astype(str), ts=pd.to_datetime(f["ts"]))
        last = f.sort_values("ts").groupby("customer_id").tail(1).set_index("customer_id")
        out[col] = pd.to_numeric(last["score"]).reindex(idx).astype(float)
        if kind == "NPS":
            out["days_since_nps"] = ((ref - last["ts"]).dt.total_seconds() / 86400.0).reindex(idx)
    return out[[*out.columns[:-2], "days_since_nps", "last_csat"]]


def _reference_combine(
    scores: pd.DataFrame, customers: pd.DataFrame, signals: pd.DataFrame, need: pd.DataFrame
) -> pd.DataFrame:
    """The former combine: pandas merges on the text ids."""
    s = scores.assign(customer_id=scores["customer_id"].astype(str))
    s["reasons"] = _reference_reason_lists(s[["reason_1", "reason_2", "reason_3"]])
    c = customers.assign(customer_id=customers["customer_id"].astype(str))
    c = c.drop_duplicates("customer_id", keep="last")
    out = s[["customer_id", "score", "reasons"]].merge(c, on="customer_id", how="inner")
    n = need[["customer_id", "score"]].rename(columns={"score": "need_score"}).astype({"customer_id": str})
    out = out.merge(n.astype({"need_score": float}), on="customer_id", how="left")
    return out.merge(signals, left_on="customer_id", right_index=True, how="left")


def _world(n: int, seed: int, repeated_customer: bool) -> dict[str, pd.DataFrame]:
    """Seeded customers, usage, tickets, answers and scores; ids partly missing from each source."""
    rng = np.random.default_rng(seed)
    ids = [f"c{i:04d}" for i in range(n)]
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "signup_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D"),
            "plan": rng.choice(["free", "pro", "enterprise"], n),
            "marketing_consent": rng.random(n) < 0.8,
            "monthly_revenue": np.where(rng.random(n) < 0.2, np.nan, rng.gamma(2.0, 100.0, n)),
        }
    )
    if repeated_customer:
        customers = pd.concat([customers, customers.iloc[[3]].assign(plan="other")], ignore_index=True)
    some = lambda k: rng.choice([*ids, "x1", "x2"], k, replace=False)  # noqa: E731
    usage = pd.DataFrame({"customer_id": some(n // 2), "usage_14d": rng.integers(0, 30, n // 2)})
    usage["usage_prev_14d"] = np.where(rng.random(n // 2) < 0.1, np.nan, rng.integers(0, 30, n // 2))
    k = n // 3
    tickets = pd.DataFrame(
        {
            "customer_id": rng.choice(ids, k),
            "opened_at": np.where(
                rng.random(k) < 0.05, pd.NaT, AS_OF - pd.to_timedelta(rng.integers(1, 900, k), unit="h")
            ),
            "priority": rng.choice(["low", "high", "urgent"], k),
        }
    )
    feedback = pd.DataFrame(
        {
            "customer_id": rng.choice(ids, k),
            "survey_type": rng.choice(["NPS", "CSAT"], k),
            "ts": AS_OF - pd.to_timedelta(rng.integers(1, 80, k), unit="D"),
            "score": rng.integers(0, 11, k),
        }
    )
    codes = np.array(["tickets_open", "", None, "nps_low"], dtype=object)
    scores = pd.DataFrame({"customer_id": some(n - 5), "score": rng.random(n - 5)})
    for i in (1, 2, 3):
        scores[f"reason_{i}"] = codes[rng.integers(0, len(codes), n - 5)]
    need = scores.iloc[::4][["customer_id"]].assign(score=rng.random(len(scores.iloc[::4])))
    return {
        "customers": customers,
        "usage": usage,
        "tickets": tickets,
        "feedback": feedback,
        "scores": scores,
        "need": need,
    }


AS_OF = datetime(2026, 11, 24, 14)


@pytest.mark.parametrize("repeated_customer", [False, True], ids=["unique-ids", "a-repeated-customer"])
@pytest.mark.parametrize("seed", [1, 2])
def test_signals_and_combine_equal_their_merge_definitions(seed: int, repeated_customer: bool) -> None:
    w = _world(400, seed, repeated_customer)
    args = (w["customers"], w["usage"], w["tickets"], w["feedback"], AS_OF)
    signals = build_signals(*args)
    pd.testing.assert_frame_equal(signals, _reference_signals(*args))
    got = combine(w["scores"], w["customers"], signals, w["need"])
    pd.testing.assert_frame_equal(got, _reference_combine(w["scores"], w["customers"], signals, w["need"]))
    assert got["need_score"].notna().any()  # both paths of the need join ran
    assert got["need_score"].isna().any()


def test_combine_without_need_scores_or_signal_rows() -> None:
    w = _world(60, 5, False)
    signals = build_signals(w["customers"], w["usage"], w["tickets"], w["feedback"], AS_OF).iloc[::2]
    none = pd.DataFrame({"customer_id": pd.Series([], dtype=str), "score": pd.Series([], dtype=float)})
    got = combine(w["scores"], w["customers"], signals, none)
    pd.testing.assert_frame_equal(got, _reference_combine(w["scores"], w["customers"], signals, none))
    assert got["tenure_days"].isna().any()  # customers without a signal row keep NaN, as a left merge does


def _reference_draw(pool: pd.DataFrame, slots: int, salt: str) -> list[str]:
    """The former draw: every pool row ordered by (salted hash, id), the first ``slots`` taken."""
    ids = pool["customer_id"].astype(str)
    u = unit_hash(ids, salt)
    return ids.to_numpy()[np.lexsort((ids.to_numpy(), u))][:slots].tolist()


@pytest.mark.parametrize("slots", [1, 7, 50, 299, 300, 400])
def test_exploration_draws_what_sorting_every_row_draws(slots: int) -> None:
    rng = np.random.default_rng(slots)
    valued = pd.DataFrame(
        {"customer_id": [f"e{i}" for i in rng.permutation(300)], "action": "email", "expected_value": 1.0}
    )
    chosen = valued.iloc[:0]
    got = add_exploration(valued, chosen, slots, salt="s", as_of=AS_OF, policy="risk")
    want = _reference_draw(valued, slots, f"s|explore|{AS_OF.date().isoformat()}")
    assert got["customer_id"].tolist() == want


@pytest.mark.parametrize(
    "consent",
    [
        pd.Series([True, False, True, False]),
        pd.Series([True, None, False, True], dtype="boolean"),
        pd.Series([True, None, False, True], dtype=pd.ArrowDtype(pa.bool_())),
        pd.Series([1, "true", "TRUE", None], dtype=object),
        pd.Series([np.nan, 0.0, 1.0, 2.0]),
        pd.Series(["yes", "True", "", None], dtype=object),
    ],
    ids=["bool", "nullable", "arrow", "mixed", "numbers", "texts"],
)
def test_consent_reads_as_the_row_by_row_rule(consent: pd.Series) -> None:
    f = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "email": ["a@x.org", "b@x.org", "c@x.org", "d@x.org"],
            "marketing_consent": consent,
            "cancelled_at": pd.NaT,
        }
    )
    want = ["" if consented(v) else "no_consent" for v in consent]
    assert contact_block_reason(f, set(), set(), AS_OF).tolist() == want
