"""Crash test: a sender of 2,000 emails is SIGKILLed at a random point, then a rerun: 0 duplicates, 0 missing.

The killed sender is a subprocess (this file run as a script) using the real code path (deliver_pending, the
official sendgrid client, HTTP to the sink). The sink runs in the test process, so it survives the kill, as
SendGrid would. Five runs in the default suite (3 DuckDB + 2 PostgreSQL); 100 per backend with ``-m slow``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

N_EMAILS = 2000
AS_OF = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 14)


def _sender_main() -> None:
    from proactive_ml.delivery.sendgrid import RetryPolicy
    from proactive_ml.outreach.dispatch import deliver_pending
    from proactive_ml.settings import Settings
    from proactive_ml.warehouse import Warehouse

    print("imported", flush=True)
    url, data_dir, host, batch = sys.stdin.readline().split()  # "go": the warehouse is ready for us
    s = Settings(data_dir=Path(data_dir), sendgrid_host=host, _env_file=None)  # type: ignore[call-arg]
    wh = Warehouse.connect(url)
    print("ready", flush=True)
    out = deliver_pending(wh, s, now=NOW, batch_size=int(batch), workers=2, retry=RetryPolicy(timeout=30))
    print(f"done {out}", flush=True)


def crash_once(url: str, tmp: Path, rng: random.Random) -> dict[str, int]:
    """Plan 2,000 sends, kill a sender at a random moment, rerun, and check the sink's log."""
    from proactive_ml.outreach import ledger
    from proactive_ml.outreach.dispatch import deliver_pending
    from proactive_ml.settings import Settings
    from proactive_ml.sim.outreach_samples import create_tables, make_customers, plan_direct
    from proactive_ml.sim.sink import Fault, start_sink_in_thread
    from proactive_ml.warehouse import Warehouse

    # start the sender first: its imports overlap with the set-up below
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, __file__],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    settings = Settings(data_dir=tmp, _env_file=None)  # type: ignore[call-arg]
    host, stop, ctl = start_sink_in_thread(settings)
    try:
        s = settings.model_copy(update={"sendgrid_host": host})
        wh = Warehouse.connect(url)
        create_tables(wh)
        c = make_customers(N_EMAILS, seed=rng.randrange(1000), consent_share=1.0)
        wh.insert_frame("customers", c)
        keys = plan_direct(wh, c, "renewal_risk", AS_OF, NOW)
        wh.close()  # DuckDB: one process at a time
        ctl.inject(
            Fault(slow=0.04, count=10_000)
        )  # widen the window between 'request sent' and '202 received'
        batch = rng.choice([100, 250, 1000])
        assert proc.stdout is not None
        assert proc.stdin is not None
        assert proc.stdout.readline().strip() == "imported", proc.stderr.read() if proc.stderr else ""
        proc.stdin.write(f"{url} {tmp} {host} {batch}\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
        # a random point of the send: after the k-th request reached the server, plus a random fraction of
        # its (slowed) processing - so kills land before, during and after requests the server accepts
        k = rng.randint(0, -(-N_EMAILS // batch))
        deadline = time.monotonic() + 120
        while ctl.stats["requests"] < k and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(rng.uniform(0.0, 0.06))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        ctl.clear()
        wh = Warehouse.connect(url)
        before = ledger.ledger_counts(wh)
        # the sender is known dead: its claims are stale at once
        out = deliver_pending(wh, s, now=NOW, stale_after=timedelta(0), workers=2)
        after = ledger.ledger_counts(wh)
        wh.close()
    finally:
        stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    log = [line for line in (tmp / "outbox" / "accepted.jsonl").read_text().splitlines() if line]
    import json

    counts = Counter(json.loads(x)["send_key"] for x in log)
    dupes = sum(n - 1 for n in counts.values() if n > 1)
    missing = len(set(keys) - set(counts))
    assert dupes == 0, f"{dupes} duplicates (batch {batch}, before {before}, rerun {out})"
    assert missing == 0, f"{missing} missing (batch {batch}, before {before}, rerun {out})"
    assert set(counts) == set(keys)
    assert after == {"accepted": N_EMAILS}
    return {
        "sending_at_kill": before.get("sending", 0),
        "reconciled": out.get("reconciled_accepted", 0),
        "accepted_at_kill": before.get("accepted", 0),
    }


def _url(backend: str, tmp: Path, request: pytest.FixtureRequest) -> str:
    if backend == "duckdb":
        return f"duckdb:///{tmp / 'wh.duckdb'}"
    return request.getfixturevalue("pg_url")


def _fresh_url(backend: str, tmp: Path, request: pytest.FixtureRequest, reset: bool) -> str:
    """A warehouse for one crash run; PostgreSQL's schema is shared by the runs, so later runs empty its tables."""
    url = _url(backend, tmp, request)
    if backend == "postgres" and reset:
        from proactive_ml.warehouse import open_warehouse

        w = open_warehouse(url)
        for t in ("decisions", "send_ledger", "dead_letters", "cs_tasks", "customers"):
            w.execute(f"DELETE FROM {t}")
        w.close()
    return url


@pytest.mark.parametrize(("backend", "runs"), [("duckdb", 3), ("postgres", 2)])
def test_crash_and_rerun_exactly_once(
    backend: str, runs: int, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    rng = random.Random(f"crash-{backend}")
    for i in range(runs):
        tmp = tmp_path / f"run{i}"
        crash_once(_fresh_url(backend, tmp, request, reset=i > 0), tmp, rng)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_crash_and_rerun_exactly_once_100_times(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    rng = random.Random(f"crash100-{backend}")
    stats = []
    for i in range(100):
        tmp = tmp_path / f"run{i}"
        stats.append(crash_once(_fresh_url(backend, tmp, request, reset=i > 0), tmp, rng))
    # the kills really hit the window where rows were in flight, and some requests were accepted by the server
    # after the sender died (found by the reconcile, not re-sent)
    assert sum(1 for s in stats if s["sending_at_kill"]) >= 30
    assert sum(1 for s in stats if s["reconciled"]) >= 5


if __name__ == "__main__":  # the sender subprocess
    _sender_main()
