"""The suites pass on a clean simulated world: 90 days of daily landing files, no quarantined row and no gate
fired (row rules + gates, as validate_batch evaluates them; GX itself is exercised by the other tests)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from proactive_ml import contract
from proactive_ml.validation import BatchValidator
from proactive_ml.validation.gates import evaluate_gates
from proactive_ml.validation.suites import load_suite


@pytest.mark.slow
def test_clean_world_90_days_no_false_alarms(tmp_path: Path) -> None:
    from proactive_ml.ingest.files import read_raw
    from proactive_ml.sim.world import simulate_to_landing

    landing = tmp_path / "landing"
    simulate_to_landing(landing, n_customers=2000, days=90, start=date(2026, 1, 1), seed=42, progress=False)
    suites = {d: load_suite(d) for d in contract.DATASETS}
    history: dict[str, list[dict]] = {d: [] for d in contract.DATASETS}
    known: set[str] = set()
    days = sorted({p.stem for p in landing.glob("*/*.csv")})
    assert len(days) == 90
    problems = []
    for day in days:
        as_of = date.fromisoformat(day)
        for name in contract.INGEST_ORDER:
            path = landing / name / f"{day}.csv"
            if not path.exists():
                continue
            ds = contract.DATASETS[name]
            raw = read_raw(path, ds)
            v = BatchValidator(
                ds,
                suites[name],
                source_file=str(path),
                as_of=as_of,
                known={"customer_id": pa.array(sorted(known), type=pa.string())},
            )
            _, q = v.process(raw)
            stats = v.final_stats()
            if len(q):
                problems.append(
                    (day, name, q[["source_line", "expectation", "reason"]].head(3).to_dict("records"))
                )
            failures, _, _ = evaluate_gates(suites[name], stats, history[name][::-1][:7], as_of, 0.02)
            if failures:
                problems.append((day, name, [g.to_dict() for g in failures]))
            else:
                history[name].append(stats)
            if name == "customers":
                known |= set(raw["customer_id"].dropna())
    assert not problems, problems[:10]
