"""The simulated world: determinism, the contract, keys, churn semantics, plausible rates, hidden types."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from proactive_ml.contract import (
    DATASETS,
    FEATURES,
    PLANS,
    TICKET_CATEGORIES,
    TICKET_PRIORITIES,
    TICKET_STATUSES,
)
from proactive_ml.sim.world import RESPONSE_TYPES, World, WorldConfig

DAYS = 90
N_AUC = 4000


@pytest.fixture(scope="module")
def run90() -> tuple[World, list[dict[str, pd.DataFrame]]]:
    """2,000 customers over 90 days (the demo's world), every daily batch kept."""
    world = World(WorldConfig(n_customers=2000, seed=42))
    batches = [world.step() for _ in range(DAYS)]
    return world, batches


def _all(batches: list[dict[str, pd.DataFrame]], name: str) -> pd.DataFrame:
    return pd.concat([b[name] for b in batches], ignore_index=True)


def _final_customers(batches: list[dict[str, pd.DataFrame]]) -> pd.DataFrame:
    return _all(batches, "customers").drop_duplicates("customer_id", keep="last").set_index("customer_id")


def test_same_seed_same_world_and_other_seed_differs() -> None:
    a, b, c = (World(WorldConfig(n_customers=300, seed=s)) for s in (7, 7, 8))
    for _ in range(5):
        ba, bb, bc = a.step(), b.step(), c.step()
        for name in DATASETS:
            pd.testing.assert_frame_equal(ba[name], bb[name])
    assert not ba["usage_events"].equals(bc["usage_events"])
    pd.testing.assert_frame_equal(a.truth(), b.truth())


def test_batches_follow_the_contract(run90: tuple[World, list[dict[str, pd.DataFrame]]]) -> None:
    _, batches = run90
    for batch in batches[:3] + batches[-3:]:
        assert set(batch) == set(DATASETS)
        for name, df in batch.items():
            ds = DATASETS[name]
            assert list(df.columns) == ds.column_names, name
            for col in ds.columns:
                s = df[col.name]
                if col.type == "string":
                    assert pd.api.types.is_string_dtype(s), (name, col.name, s.dtype)
                elif col.type in ("timestamp", "date"):
                    assert pd.api.types.is_datetime64_dtype(s), (name, col.name, s.dtype)
                    assert s.dt.tz is None, (name, col.name, s.dtype)
                elif col.type == "int":
                    assert pd.api.types.is_integer_dtype(s), (name, col.name, s.dtype)
                elif col.type == "float":
                    assert pd.api.types.is_float_dtype(s), (name, col.name, s.dtype)
                elif col.type == "bool":
                    assert pd.api.types.is_bool_dtype(s), (name, col.name, s.dtype)
                if col.required:
                    assert s.notna().all(), (name, col.name)
    cust = _all(batches, "customers")
    assert set(cust.plan) <= set(PLANS)
    assert cust.email.str.fullmatch(r"user\d+@example\.(com|org)").all()
    assert cust.email.is_unique or cust.drop_duplicates("customer_id").email.is_unique
    assert (cust.monthly_revenue >= 0).all()
    assert 0.78 < cust.drop_duplicates("customer_id").marketing_consent.mean() < 0.92
    usage = _all(batches, "usage_events")
    assert set(usage.feature) <= set(FEATURES)
    assert (usage.quantity >= 1).all()
    tickets = _all(batches, "tickets")
    assert set(tickets.status) <= set(TICKET_STATUSES)
    assert set(tickets.priority) <= set(TICKET_PRIORITIES)
    assert set(tickets.category) <= set(TICKET_CATEGORIES)
    fb = _all(batches, "feedback")
    nps, csat = fb[fb.survey_type == "NPS"].score, fb[fb.survey_type == "CSAT"].score
    assert nps.between(0, 10).all()
    assert csat.between(1, 5).all()
    assert len(csat) > 50


def test_timezones_are_consistent_with_countries(run90: tuple[World, list[dict[str, pd.DataFrame]]]) -> None:
    cust = _final_customers(run90[1])
    pairs = cust.groupby("country").timezone.unique()
    assert all(tz.startswith(("America/",)) for tz in pairs["US"])
    assert set(pairs["DE"]) == {"Europe/Berlin"}
    assert set(pairs["JP"]) == {"Asia/Tokyo"}


def test_natural_keys_are_unique(run90: tuple[World, list[dict[str, pd.DataFrame]]]) -> None:
    _, batches = run90
    for batch in batches:
        for name, df in batch.items():
            assert not df.duplicated(list(DATASETS[name].key)).any(), name
    for name in ("usage_events", "feedback"):  # append-only datasets: unique over the whole history too
        df = _all(batches, name)
        assert not df.duplicated(list(DATASETS[name].key)).any(), name


def test_rows_are_dated_on_their_day(run90: tuple[World, list[dict[str, pd.DataFrame]]]) -> None:
    _, batches = run90
    for i, batch in enumerate(batches):
        day = pd.Timestamp(date(2026, 1, 1) + timedelta(days=i))
        ts = batch["usage_events"].ts
        assert ((ts >= day) & (ts < day + pd.Timedelta(days=1))).all()
        assert batch["usage_events"].attrs["day"] == day.date().isoformat()


def test_first_step_is_the_whole_base_then_only_changes(
    run90: tuple[World, list[dict[str, pd.DataFrame]]],
) -> None:
    _, batches = run90
    first = batches[0]["customers"]
    assert len(first) >= 2000
    assert (first.signup_date < pd.Timestamp("2026-01-01")).sum() == 2000
    assert first.signup_date.min() >= pd.Timestamp("2024-01-01")
    later = pd.concat([b["customers"] for b in batches[1:]])
    assert 0 < len(later) < 1000
    new = later[later.cancelled_at.isna()]
    assert len(new) > 20  # signups keep coming, so onboarding playbooks have material
    assert (new.signup_date >= pd.Timestamp("2026-01-02")).all()


def test_churned_customers_go_silent(run90: tuple[World, list[dict[str, pd.DataFrame]]]) -> None:
    _, batches = run90
    cust = _final_customers(batches)
    cancelled = cust.cancelled_at.dropna()
    for name, col in (("usage_events", "ts"), ("feedback", "ts"), ("tickets", "opened_at")):
        df = _all(batches, name)
        df = df[df.customer_id.isin(cancelled.index)]
        assert (df[col].to_numpy() < cancelled.loc[df.customer_id].to_numpy()).all(), name
    # a churned customer's row was re-emitted with cancelled_at on its churn day
    all_rows = _all(batches, "customers")
    assert all_rows.duplicated("customer_id").sum() >= len(cancelled) - 5


def test_rates_are_plausible(run90: tuple[World, list[dict[str, pd.DataFrame]]]) -> None:
    world, batches = run90
    cust = _final_customers(batches)
    churners = int(cust.cancelled_at.notna().sum())
    assert 150 <= churners <= 400, churners
    monthly = churners / len(cust) / (DAYS / 30)
    assert 0.02 <= monthly <= 0.045, monthly
    usage_per_day = len(_all(batches, "usage_events")) / 2000 / DAYS
    assert 0.35 <= usage_per_day <= 0.8, usage_per_day
    tickets = _all(batches, "tickets")
    assert 600 <= tickets.ticket_id.nunique() <= 2000
    fb = _all(batches, "feedback")
    assert 800 <= (fb.survey_type == "NPS").sum() <= 2500
    assert world.summary()["churned"] == churners


def test_tickets_are_updated_by_later_rows(run90: tuple[World, list[dict[str, pd.DataFrame]]]) -> None:
    tickets = _all(run90[1], "tickets")
    assert tickets.ticket_id.duplicated().sum() > 300
    last = tickets.drop_duplicates("ticket_id", keep="last")
    done = last[last.status.isin(["solved", "closed"])]
    assert done.closed_at.notna().all()
    assert (done.closed_at >= done.opened_at).all()
    assert last[last.status.isin(["open", "pending"])].closed_at.isna().all()
    assert {"open", "pending", "solved", "closed"} <= set(tickets.status)


def test_negative_comments_carry_themes(run90: tuple[World, list[dict[str, pd.DataFrame]]]) -> None:
    fb = _all(run90[1], "feedback")
    neg = fb[(fb.survey_type == "NPS") & (fb.score <= 4)].comment.dropna()
    pos = fb[(fb.survey_type == "NPS") & (fb.score >= 9)].comment.dropna()
    assert len(neg) > 50
    assert len(pos) > 50
    themes = neg.str.contains(
        "bill|charg|price|expensive|bug|error|broken|break|slow|performance|support|ticket|sync|integration|"
        "login|logged|password|permission|confus|complicated",
        case=False,
    )
    assert themes.mean() > 0.9
    assert not pos.str.contains("broken|slow|charged twice", case=False).any()


def test_response_types_show_in_observables(run90: tuple[World, list[dict[str, pd.DataFrame]]]) -> None:
    world, batches = run90
    truth = world.truth().set_index("customer_id")
    assert set(truth.response_type) == set(RESPONSE_TYPES)
    cust = _final_customers(batches).join(truth.response_type)
    usage = _all(batches, "usage_events").groupby("customer_id").size()
    tickets = _all(batches, "tickets").drop_duplicates("ticket_id").groupby("customer_id").size()
    fb = _all(batches, "feedback")
    nps = fb[fb.survey_type == "NPS"].groupby("customer_id").score.mean()
    cust = cust.assign(usage=usage, tickets=tickets, nps=nps).fillna({"usage": 0, "tickets": 0})
    by = cust.groupby("response_type")
    use, tix, score = by.usage.mean(), by.tickets.mean(), by.nps.mean()
    assert use["sure_thing"] > use["persuadable"] > max(use["sleeping_dog"], use["lost_cause"])
    assert tix["persuadable"] > tix["sure_thing"] > tix["sleeping_dog"]
    assert score["lost_cause"] < score["persuadable"] < score["sure_thing"]
    cheap = cust.plan.isin(["free", "starter"])
    assert cheap[cust.response_type == "sleeping_dog"].mean() > 0.9
    churned = cust.cancelled_at.notna().groupby(cust.response_type).mean()
    assert churned["lost_cause"] > churned["persuadable"] > churned["sure_thing"]


def test_truth_numbers_follow_the_types(run90: tuple[World, list[dict[str, pd.DataFrame]]]) -> None:
    world, _ = run90
    truth = world.truth()
    act = truth[truth.active]
    uplift = act.groupby("response_type").uplift.mean()
    assert uplift["persuadable"] > 0.01
    assert uplift["sleeping_dog"] < -0.01
    assert abs(uplift["lost_cause"]) < 1e-9
    assert (truth.loc[~truth.active, "uplift"] == 0).all()
    pers = act[act.response_type == "persuadable"].customer_id
    assert world.true_effect(pers) == pytest.approx(act.loc[pers.index, "uplift"].sum())
    # kept through the email window, some of them still churn afterwards: the effect fades with the horizon
    assert 0 < world.true_effect(pers, horizon_days=60) < world.true_effect(pers)
    assert world.true_effect(act[act.response_type == "sleeping_dog"].customer_id) < 0
    assert world.true_effect(["nobody", "C9999999"]) == 0.0


@pytest.mark.parametrize("seed", [3])
def test_hazard_mix_gives_learnable_churn(seed: int) -> None:
    """A plain model on 30-day windows of observables ranks churners well above chance."""
    world = World(WorldConfig(n_customers=N_AUC, seed=seed))
    batches = [world.step() for _ in range(60)]
    cut = pd.Timestamp("2026-01-31")
    cust = _final_customers(batches)
    base = cust[(cust.cancelled_at.isna()) | (cust.cancelled_at >= cut)]
    base = base[base.signup_date < cut]
    y = (base.cancelled_at.notna() & (base.cancelled_at < cut + pd.Timedelta(days=30))).astype(int)
    usage = _all(batches, "usage_events")
    recent = usage[(usage.ts < cut) & (usage.ts >= cut - pd.Timedelta(days=14))].groupby("customer_id").size()
    prior = usage[(usage.ts < cut - pd.Timedelta(days=14))].groupby("customer_id").size()
    fb = _all(batches, "feedback")
    nps = fb[(fb.ts < cut) & (fb.survey_type == "NPS")].groupby("customer_id").score.last()
    x = (
        pd.DataFrame(index=base.index)
        .assign(recent=recent, prior=prior, nps=nps)
        .fillna({"recent": 0, "prior": 0})
    )
    x = x.assign(
        has_nps=x.nps.notna().astype(int),
        nps=x.nps.fillna(7),
        log_recent=np.log1p(x.recent),
        drop=np.log1p(x.recent) - np.log1p(x.prior),
        free=(base.plan == "free").astype(int),
    )
    assert y.sum() > 100
    assert _auc(y.to_numpy(), _logistic_scores(x.to_numpy(dtype=float), y.to_numpy())) > 0.75


def _logistic_scores(x: np.ndarray, y: np.ndarray, iterations: int = 25) -> np.ndarray:
    """In-sample linear scores of a ridge-regularised logistic regression fitted by Newton steps (no sklearn:
    importing it costs seconds)."""
    z = np.column_stack([np.ones(len(x)), (x - x.mean(0)) / (x.std(0) + 1e-9)])
    w = np.zeros(z.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-z @ w))
        grad = z.T @ (p - y) + 1e-3 * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + 1e-3 * np.eye(z.shape[1])
        w -= np.linalg.solve(hess, grad)
    return z @ w


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic."""
    ranks = pd.Series(score).rank().to_numpy()
    pos = y == 1
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))
