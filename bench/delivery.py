"""Bench: render + deliver 100k emails to the local SendGrid-compatible sink through the official client.

Batched mode: ``deliver_pending`` (claims from the DuckDB send ledger, renders, 1000 personalizations per request,
marks accepted) against the sink started as a separate process (``proactive-ml mail-sink``), as in production
where SendGrid is another machine. Single mode: one request per email (``batch_size=1``), measured on
``--single`` emails (default 2,000) and extrapolated linearly to 100k (said so in the JSON).

Last line of output: JSON with ``deliver_100k_seconds`` and ``batched_vs_single_speedup``.
Usage: ``.venv/bin/python bench/delivery.py [--n 100000] [--single 2000]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from proactive_ml.identity import send_key
from proactive_ml.outreach import decisions
from proactive_ml.outreach.dispatch import deliver_pending
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse, open_warehouse

AS_OF = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 14)
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
PLAYBOOKS = ["renewal_risk", "onboarding_stall", "detractor_survey", "unresolved_ticket"]


def start_sink(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """The sink as its own process; returns once it answers."""
    env = {**os.environ, "PROACTIVE_DATA_DIR": str(data_dir)}
    log = open(data_dir.parent / "sink.log", "w")  # noqa: SIM115 - lives as long as the sink
    proc = subprocess.Popen(
        [sys.executable, "-m", "proactive_ml.cli", "mail-sink", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v3/_sink/stats", timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"mail sink did not start: {(data_dir.parent / 'sink.log').read_text()[-2000:]}")


def stats(port: int) -> dict[str, int]:
    """The sink's counters."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v3/_sink/stats", timeout=30) as r:
        return json.loads(r.read())


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc), 0.0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def plan(wh: Warehouse, n: int, prefix: str) -> float:
    """n customers and planned ledger rows (mixed playbooks); returns seconds spent."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(7)
    ids = [f"{prefix}{i:07d}" for i in range(n)]
    wh.insert_frame(
        "customers",
        pd.DataFrame(
            {
                "customer_id": ids,
                "email": [f"{i}@example.org" for i in ids],
                "name": [f"Kim {i[-4:]} Doe" for i in ids],
                "plan": "pro",
                "signup_date": AS_OF,
                "country": "DE",
                "timezone": "UTC",
                "monthly_revenue": 100.0,
                "marketing_consent": True,
                "cancelled_at": pd.Series([pd.NaT] * n, dtype="datetime64[us]"),
            }
        ),
    )
    pbs = rng.choice(PLAYBOOKS, n)
    d = pd.DataFrame(
        {
            "customer_id": ids,
            "playbook": pbs,
            "action": "email",
            "arm": "treatment",
            "holdout_kind": None,
            "score": rng.random(n),
            "uplift": np.nan,
            "expected_value": 10.0,
            "as_of": AS_OF,
            "send_at": pd.Timestamp(NOW),
            "reasons": rng.choice(["usage_decline|open_tickets", "nps_last", "tenure_days|usage_decline"], n),
        }
    )
    d["send_key"] = [send_key(c, p, AS_OF) for c, p in zip(d["customer_id"], d["playbook"], strict=True)]
    decisions.record_decisions(wh, d, now=NOW, cap_days=14)
    return time.perf_counter() - t0


def run(n: int, n_single: int, port: int) -> dict[str, object]:
    """Both modes; returns the figures."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
    sink = start_sink(tmp / "sink", port)
    try:
        s = Settings(data_dir=tmp, sendgrid_host=f"http://127.0.0.1:{port}", _env_file=None)  # type: ignore[call-arg]
        wh = open_warehouse(f"duckdb:///{tmp / 'bench.duckdb'}")
        plan_s = plan(wh, n, "b")
        load_before = os.getloadavg()[0]
        t0, c0, s0 = time.perf_counter(), time.process_time(), cpu_seconds(sink.pid)
        out = deliver_pending(wh, s, now=NOW, batch_size=1000, workers=WORKERS)
        batched = time.perf_counter() - t0
        client_cpu, sink_cpu = time.process_time() - c0, cpu_seconds(sink.pid) - s0
        load_after = os.getloadavg()[0]
        assert out["sent"] == n, out
        t1 = time.perf_counter()
        while stats(port)["files_pending"]:
            time.sleep(0.1)
        files_s = time.perf_counter() - t1
        wh.close()

        wh2 = open_warehouse(f"duckdb:///{tmp / 'single.duckdb'}")
        plan(wh2, n_single, "s")
        t0 = time.perf_counter()
        out1 = deliver_pending(wh2, s, now=NOW, batch_size=1, workers=WORKERS)
        single = time.perf_counter() - t0
        assert out1["sent"] == n_single, out1
        wh2.close()
        st = stats(port)
        assert st["accepted_messages"] == n + n_single
        assert st["distinct_send_keys"] == n + n_single
        assert st["pii_violations"] == 0
        assert st["missing_unsubscribe_headers"] == 0
    finally:
        sink.terminate()
        sink.wait(timeout=30)
    single_100k = single / n_single * 100_000
    batched_100k = batched / n * 100_000
    return {
        "emails": n,
        "plan_seconds": round(plan_s, 2),
        "deliver_seconds": round(batched, 2),
        "deliver_100k_seconds": round(batched_100k, 2),
        "requests": out["requests"],
        "client_cpu_seconds": round(client_cpu, 2),
        "sink_api_cpu_seconds": round(sink_cpu, 2),
        "machine": f"{os.cpu_count()} cores, load average {load_before:.1f} before / {load_after:.1f} after",
        "outbox_files_extra_seconds": round(files_s, 2),
        "single_mode_emails_measured": n_single,
        "single_mode_seconds_measured": round(single, 2),
        "single_mode_100k_seconds_extrapolated": round(single_100k, 1),
        "batched_vs_single_speedup": round(single_100k / batched_100k, 1),
        "note": "single mode measured on single_mode_emails_measured emails and extrapolated linearly to 100k; "
        "outbox .eml/.html files are written by the sink after its 202 (accepted.jsonl is flushed before).",
        "goal_deliver_100k_seconds": 30,
    }


def main() -> None:
    """Run the bench and print the JSON line last."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--single", type=int, default=2000)
    ap.add_argument("--port", type=int, default=3991)
    a = ap.parse_args()
    print(json.dumps(run(a.n, a.single, a.port)))


if __name__ == "__main__":
    main()
