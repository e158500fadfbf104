"""A sender killed mid-request: the rerun reconciles its claimed rows at once (no 10-minute wait) and says so.

The killed sender is a subprocess (this file run as a script) on the real code path (deliver_pending, the official
sendgrid client, HTTP to the sink in the test process, which survives the kill as SendGrid would). The rerun uses
the default stale timeout and the wall clock: only knowing that the sender is dead lets it resolve the rows now.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from proactive_ml.warehouse import Warehouse

N, BATCH = 40, 20
AS_OF = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 14)


def _sender_main() -> None:
    from proactive_ml.delivery.sendgrid import RetryPolicy
    from proactive_ml.outreach.dispatch import deliver_pending
    from proactive_ml.settings import Settings
    from proactive_ml.warehouse import Warehouse

    url, data_dir, host = sys.stdin.readline().split()
    s = Settings(data_dir=Path(data_dir), sendgrid_host=host, _env_file=None)  # type: ignore[call-arg]
    wh = Warehouse.connect(url)
    deliver_pending(wh, s, now=NOW, batch_size=BATCH, workers=1, retry=RetryPolicy(timeout=30))


def _wait(cond: object, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not cond() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)


@pytest.mark.parametrize("backend", ["duckdb", pytest.param("postgres", marks=pytest.mark.slow)])
def test_rerun_reconciles_a_killed_senders_rows_at_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from proactive_ml.outreach import ledger
    from proactive_ml.outreach.dispatch import deliver_pending
    from proactive_ml.settings import Settings
    from proactive_ml.sim.outreach_samples import create_tables, make_customers, plan_direct
    from proactive_ml.sim.sink import Fault, start_sink_in_thread

    url = f"duckdb:///{tmp_path / 'wh.duckdb'}" if backend == "duckdb" else request.getfixturevalue("pg_url")
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    host, stop, ctl = start_sink_in_thread(settings)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, __file__], stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        wh = Warehouse.connect(url)
        create_tables(wh)
        c = make_customers(N, seed=1, consent_share=1.0)
        wh.insert_frame("customers", c)
        keys = plan_direct(wh, c, "renewal_risk", AS_OF, NOW)
        wh.close()  # DuckDB: one process at a time
        ctl.inject(
            Fault(slow=1.5, count=10_000)
        )  # every request is held at the server for 1.5 s, then accepted
        assert proc.stdin is not None
        proc.stdin.write(f"{url} {tmp_path} {host}\n")
        proc.stdin.flush()
        _wait(lambda: ctl.stats["requests"] >= 1 or proc.poll() is not None)
        assert ctl.stats["requests"] >= 1, proc.stderr.read() if proc.stderr else ""
        proc.send_signal(signal.SIGKILL)  # the first request is in flight: its rows are 'sending'
        proc.wait(timeout=30)
        _wait(lambda: ctl.stats["accepted_requests"] >= 1)  # ... and the server accepts it after the kill
        ctl.clear()
        wh = Warehouse.connect(url)
        assert ledger.ledger_counts(wh) == {"sending": BATCH, "planned": N - BATCH}
        out = deliver_pending(wh, settings.model_copy(update={"sendgrid_host": host}), now=NOW)
        after = ledger.ledger_counts(wh)
        wh.close()
    finally:
        stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert after == {"accepted": N}  # nothing left 'sending' for ten minutes
    assert out["reconciled_dead_sender"] == BATCH
    assert out["reconciled_accepted"] == BATCH  # the summary says what was found at the server ...
    assert out["sent"] == N - BATCH  # ... and what this run sent
    assert out["still_sending"] == 0
    log = (tmp_path / "outbox" / "accepted.jsonl").read_text().splitlines()
    counts = Counter(json.loads(x)["send_key"] for x in log if x)
    assert set(counts) == set(keys)
    assert max(counts.values()) == 1


def test_a_live_senders_claim_is_not_reconciled(duck: Warehouse) -> None:
    from proactive_ml.outreach import ledger
    from proactive_ml.outreach.claims import new_token, owner_gone
    from proactive_ml.sim.outreach_samples import make_customers, plan_direct

    assert not owner_gone(new_token())  # this process is alive
    assert not owner_gone("0123abcd")  # a token that names no owner: the stale timeout decides
    assert not owner_gone("another-host|1|1||x")  # another host, no session: the stale timeout decides
    c = make_customers(3, consent_share=1.0)
    duck.insert_frame("customers", c)
    plan_direct(duck, c, "renewal_risk", AS_OF, NOW)
    _, keys = ledger.claim(duck, playbook="renewal_risk", now=NOW, limit=10)
    out = ledger.reconcile(duck, lambda ks: {}, now=NOW, stale_after=timedelta(minutes=10))
    assert out["reconciled_released"] == 0
    assert ledger.ledger_counts(duck) == {"sending": len(keys)}


def test_a_dead_postgres_session_of_another_host_is_reconciled_at_once(pg_url: str) -> None:
    from proactive_ml.outreach import ledger
    from proactive_ml.outreach.claims import SEP
    from proactive_ml.sim.outreach_samples import create_tables, make_customers, plan_direct

    wh = Warehouse.connect(pg_url)
    create_tables(wh)
    c = make_customers(4, consent_share=1.0)
    wh.insert_frame("customers", c)
    keys = plan_direct(wh, c, "renewal_risk", AS_OF, NOW)
    other = Warehouse.connect(pg_url)  # a sender on another host: its session ends when it is killed
    dead = ledger._session(other)
    other.close()
    live = ledger._session(wh)
    _wait(lambda: dead not in (ledger._live_sessions(wh) or set()), 30)
    for key, session in zip(keys, (dead, dead, live, live), strict=True):
        token = SEP.join(("another-host", "1", "1", session, key))
        wh.execute(
            "UPDATE send_ledger SET state = 'sending', claim_token = :t, claimed_at = :now WHERE send_key = :k",
            {"t": token, "now": NOW, "k": key},
        )
    at_server = {keys[0]: "MID"}  # the server accepted one of the dead sender's rows
    out = ledger.reconcile(
        wh,
        lambda ks: {k: at_server[k] for k in ks if k in at_server},
        now=NOW,
        stale_after=timedelta(minutes=10),
    )
    counts = ledger.ledger_counts(wh)
    wh.close()
    assert out == {"reconciled_accepted": 1, "reconciled_released": 1, "reconciled_dead_sender": 2}
    assert counts == {"accepted": 1, "planned": 1, "sending": 2}  # the live session's rows are left alone


if __name__ == "__main__":  # the sender subprocess
    _sender_main()
