"""A refused file with a malformed address: the address is in no Prefect state message and no Prefect log row."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from flows.ingest import ingest_flow
from proactive_ml.sim.samples import clean_customers

BAD = "zork.private.addr@@exa mple"


def test_refused_file_leaves_no_address_in_prefect(prefect_harness: None, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    df = clean_customers(30, datetime(2026, 3, 1))
    df = df.drop(columns=[c for c in df.columns if c.startswith("_")])
    df.loc[3, "email"] = BAD
    folder = tmp_path / "landing" / "customers"
    folder.mkdir(parents=True)
    df.to_csv(folder / "2026-03-01.csv", index=False)
    state = ingest_flow(
        landing=str(tmp_path / "landing"),
        as_of="2026-03-01T12:00:00",
        overrides={"data_dir": str(tmp_path / "data")},
        return_state=True,
    )
    assert state.is_failed()
    assert "<masked email>" in str(state.message) + repr(state.data)  # the refusal still says what is wrong
    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
        states = client.read_flow_run_states(run.id)
    assert logs
    texts = [log.message for log in logs] + [str(s.message) for s in states] + [str(run.state.message)]
    assert not [t for t in texts if "zork.private" in t]
