"""Regression fingerprint: a small seeded world gives bit-identical landing tables, email answers and truths.

The hashes were recorded before the world was split into modules; a change here means the simulation changed
(same seed, different numbers), which the refactoring must not do.

The truths' numbers are the exception: they come from ``np.exp`` over a Monte Carlo forecast, and NumPy computes
``exp`` by another code path on a CPU with AVX-512 than on one without, so their last bits differ between two
machines of the same kind (the CI machine has been both). Their other columns are digested exactly; their numbers
are compared as sums (plain and weighted by row position) to 1e-9, far below any change of the simulation.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from proactive_ml.identity import send_key
from proactive_ml.sim.small_company import make_raw_tables
from proactive_ml.sim.world import World, WorldConfig, simulate_to_landing

N_CUSTOMERS = 300
DAYS = 30
SEND_DAYS = (5, 12, 20)


def _frame_digest(df: pd.DataFrame) -> str:
    h = hashlib.sha256("|".join(f"{c}:{df[c].dtype}" for c in df.columns).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


# Optional contract columns added after the hashes were recorded: the world derives locale, owner, subject and
# assignee from what it already drew (no extra random draws), so every recorded column stays bit-identical.
LATER_OPTIONAL = {"locale", "owner", "value", "event_id", "subject", "assignee"}


def _table_digest(tbl: pa.Table) -> str:
    later = [c for c in tbl.column_names if c in LATER_OPTIONAL]
    return _frame_digest(tbl.drop_columns(later).to_pandas(date_as_object=False))


def _truth_digest(df: pd.DataFrame) -> tuple[str, dict[str, tuple[float, float]]]:
    """The exact digest of a truth frame without its float columns, and each float column's two sums."""
    floats = [c for c in df.columns if df[c].dtype.kind == "f"]
    weights = np.arange(1, len(df) + 1, dtype=np.float64)
    sums = {c: (float(df[c].sum()), float(df[c].to_numpy() @ weights)) for c in floats}
    return _frame_digest(df.drop(columns=floats)), sums


def _answers_digest(out: dict) -> str:
    return hashlib.sha256(json.dumps(out, sort_keys=True, default=str).encode()).hexdigest()


def _sent(world: World, customers: pd.DataFrame, day: int) -> pd.DataFrame:
    pick = customers.iloc[(day * 7) % 11 :: 9]
    sent_at = pd.Timestamp(world.today) + pd.Timedelta(hours=9)
    return pd.DataFrame(
        {
            "customer_id": pick.customer_id.to_numpy(),
            "email": pick.email.to_numpy(),
            "send_key": [send_key(c, "save_at_risk", world.today) for c in pick.customer_id],
            "message_id": [f"m{day:03d}{i // 20:04d}" for i in range(len(pick))],
            "playbook": "save_at_risk",
            "sent_at": sent_at,
        }
    )


def world_fingerprint(tmp: Path) -> tuple[dict[str, str], dict[str, dict[str, tuple[float, float]]]]:
    """Digests of every day's tables, the answers to three send batches, truths, and a save/load round trip; and
    the sums of the truths' numbers (see the module docstring)."""
    world = World(WorldConfig(n_customers=N_CUSTOMERS, seed=5, start=date(2026, 3, 1)))
    digests: dict[str, hashlib._Hash] = {}
    customers = None
    for day in range(DAYS):
        tables = world.step_tables()
        for name, tbl in tables.items():
            digests.setdefault(name, hashlib.sha256()).update(_table_digest(tbl).encode())
        if day == 0:
            customers = tables["customers"].to_pandas()
        if day in SEND_DAYS:
            assert customers is not None
            out = world.receive_emails(_sent(world, customers, day))
            digests.setdefault("answers", hashlib.sha256()).update(_answers_digest(out).encode())
        if day == 15:
            world.save(tmp / "world.pkl")
            world = World.load(tmp / "world.pkl")
    result = {k: v.hexdigest() for k, v in digests.items()}
    result["truth"], truth_sums = _truth_digest(world.truth(30))
    result["sends_truth"], sends_sums = _truth_digest(world.sends_truth(60))
    result["summary"] = hashlib.sha256(json.dumps(world.summary(), sort_keys=True).encode()).hexdigest()
    result["step_frames"] = hashlib.sha256(
        "".join(
            _frame_digest(df.drop(columns=[c for c in df.columns if c in LATER_OPTIONAL]))
            for df in world.step().values()
        ).encode()
    ).hexdigest()
    return result, {"truth": truth_sums, "sends_truth": sends_sums}


def landing_fingerprint(tmp: Path) -> str:
    """Digest of the files simulate_to_landing writes (CSV) and its row counts."""
    out = simulate_to_landing(tmp / "landing", n_customers=120, days=6, seed=9, progress=False)
    h = hashlib.sha256(json.dumps(out["rows"], sort_keys=True).encode())
    for path in sorted((tmp / "landing").rglob("*.csv")):
        h.update(str(path.relative_to(tmp)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def small_company_fingerprint() -> str:
    """Digest of the small company's four raw tables."""
    tables = make_raw_tables(n_customers=80, n_days=60, seed=3)
    return hashlib.sha256("".join(_frame_digest(tables[k]) for k in sorted(tables)).encode()).hexdigest()


EXPECTED_WORLD: dict[str, str] = {
    "customers": "d6fb9abe128d6821ed55575b10674915c8f6d3b7d065b4567a8f9242c0f8bcf5",
    "usage_events": "857ccdd5ac8a2b3aaa1870d08416a51e647cc08b0c9c4f79f75400a71a434375",
    "feedback": "02d5879da8d59e43fec3ee83cb9e05785cf5aa31427ccf33b8c7b90f1305877d",
    "tickets": "3695c816e0c04b020f5a516de32acadfdd493648bb62e4c5c9ba95b0d1ade6a2",
    "answers": "b1868ab7fb00669235ea7d641746b72384bd88daf8a9e53f2aec69f2d26f570b",
    "truth": "7abb14b39c22defee545be2fab4649a70635720dede086aeb3ad416e749abde3",
    "sends_truth": "65e13ab76614dd7b909913a7e0351ce72cf04cb4f6380fec688e009597fecb3a",
    "summary": "518679a433cb731abc5499cbe9e0f96dbc2d84ab6337c7ae5f890027e7650b14",
    "step_frames": "10abdf5766d2049f0b6c2b9cfe9125800b612cc8aafce7427d0db4be361339e4",
}
# The truths' digests leave their float columns out since 2026-12-02 (a machine without AVX-512 gave other last
# bits): the columns left are unchanged from the recording above, and the numbers are these sums (sum, weighted sum).
EXPECTED_TRUTH_SUMS: dict[str, dict[str, tuple[float, float]]] = {
    "truth": {
        "hazard": (0.4653778244825432, 84.33402443409979),
        "email_multiplier": (329.6691052466631, 49381.067371577024),
        "p_churn_no_email": (25.750251781818804, 3913.5529570564745),
        "p_churn_email": (23.29819676481999, 3550.4771631007916),
        "uplift": (2.4520550169988136, 363.07579395568314),
    },
    "sends_truth": {
        "hazard": (0.11773632851559981, 6.044829048181146),
        "email_multiplier": (108.39659518748522, 5425.121903330088),
        "uplift": (-0.24516639196617873, -8.502658156774578),
    },
}
# Re-recorded when the contract gained optional columns (locale, owner, value, event_id, subject, assignee) and
# again when the world began to fill locale, owner, subject and assignee: the world fingerprint above, which
# leaves those columns out, proves every other value is unchanged.
EXPECTED_LANDING = "a35d4db64b974474168773e95df178734b11cfc539e3f39e913733e1925ce9de"
EXPECTED_SMALL_COMPANY = "32986a27669087c0e52ae5e1863e76e8329f262359ec87320e615cf3fa82c755"


def test_world_is_bit_identical(tmp_path: Path) -> None:
    digests, sums = world_fingerprint(tmp_path)
    assert digests == EXPECTED_WORLD
    assert sums.keys() == EXPECTED_TRUTH_SUMS.keys()
    for name, expected in EXPECTED_TRUTH_SUMS.items():
        assert sums[name].keys() == expected.keys(), name
        for column, values in expected.items():
            assert sums[name][column] == pytest.approx(values, rel=1e-9, abs=1e-12), (name, column)


def test_landing_files_are_bit_identical(tmp_path: Path) -> None:
    assert landing_fingerprint(tmp_path) == EXPECTED_LANDING


def test_small_company_is_bit_identical() -> None:
    assert small_company_fingerprint() == EXPECTED_SMALL_COMPANY


def test_fingerprint_sees_a_different_seed(tmp_path: Path) -> None:
    other = make_raw_tables(n_customers=80, n_days=60, seed=4)
    assert _frame_digest(other["usage_events"]) != _frame_digest(make_raw_tables(80, 60, 3)["usage_events"])
    assert np.isfinite(float(World(WorldConfig(n_customers=50, seed=1)).h0))
