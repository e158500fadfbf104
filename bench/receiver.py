"""Receiver throughput: signed Event Webhook batches over loopback, verified (ECDSA) and fsync'ed before 2xx.

Starts ``proactive-ml serve`` in a subprocess (its own data folder), signs batches of 1000 SendGrid-shaped
events with the local key, POSTs them from 4 client threads and times until every batch got its 200.
Goal >= 5,000 events/s. Last line: JSON.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from proactive_ml.responses.receiver import local_webhook_keys, signed_headers
from proactive_ml.responses.store import RawStore

BATCHES = int(os.environ.get("BENCH_BATCHES", "40"))
BATCH_SIZE = 1000
CLIENTS = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_batch(b: int, ts: int) -> bytes:
    events = [
        {
            "email": f"person{i}@example.org",
            "timestamp": ts - i,
            "event": ("delivered", "open", "click")[i % 3],
            "sg_event_id": f"ev-{b}-{i}",
            "sg_message_id": f"MSG{b}.filter0001.{i}",
            "send_key": f"sk_{(b * BATCH_SIZE + i):032x}",
            "category": ["proactive", "renewal"],
        }
        for i in range(BATCH_SIZE)
    ]
    return json.dumps(events, separators=(",", ":")).encode()


def main() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        private_pem, _ = local_webhook_keys(data)
        port = free_port()
        env = {**os.environ, "PROACTIVE_DATA_DIR": str(data)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "proactive_ml.cli", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 60
            while True:
                try:
                    if httpx.get(f"{url}/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.time() > deadline or proc.poll() is not None:
                    raise SystemExit(
                        f"receiver did not start: {proc.stderr.read().decode() if proc.stderr else ''}"
                    )
                time.sleep(0.1)
            now = int(time.time())
            bodies = [make_batch(b, now) for b in range(BATCHES)]
            signed = [(body, signed_headers(private_pem, body, now)) for body in bodies]
            with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=CLIENTS)) as client:
                client.post(
                    f"{url}/webhooks/sendgrid/events", content=signed[0][0], headers=signed[0][1]
                )  # warm-up

                def send(item: tuple[bytes, dict[str, str]]) -> int:
                    return client.post(
                        f"{url}/webhooks/sendgrid/events", content=item[0], headers=item[1]
                    ).status_code

                t0 = time.perf_counter()
                with ThreadPoolExecutor(CLIENTS) as pool:
                    codes = list(pool.map(send, signed))
                seconds = time.perf_counter() - t0
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        assert all(c == 200 for c in codes), codes
        stored = RawStore(data / "receiver.sqlite3").count("events")
        assert stored == BATCHES + 1, stored
    events = BATCHES * BATCH_SIZE
    out = {
        "receiver_events_per_s": round(events / seconds),
        "events": events,
        "batch_size": BATCH_SIZE,
        "seconds": round(seconds, 3),
        "requests_per_s": round(BATCHES / seconds, 1),
    }
    print(
        f"{events} events in {BATCHES} signed batches: {out['receiver_events_per_s']} events/s "
        "(verified + fsync'ed before 200; goal >= 5000)",
        file=sys.stderr,
    )
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
