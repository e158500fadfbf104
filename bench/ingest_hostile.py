"""Benchmark: hostile landing files through ``proactive-ml ingest`` (a real CLI process each): peak memory, answer.

Issue 16 (item 5): a 2 GB sparse CSV (NUL bytes, no line break) took 6.4 GB of memory and ended in a traceback.
Each case here runs the CLI in a child process on a landing folder holding one hostile file and reports the
child's exit code, its peak RSS and the first line it printed. Files are sparse or small; nothing is downloaded.

    .venv/bin/python bench/ingest_hostile.py [--sparse-gb 2]

Last line: JSON with, per case, exit code, peak_rss_mb and the one-line message.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CLI = [sys.executable, "-m", "proactive_ml.cli"]
HEADER = b"customer_id,ts,feature,quantity\n"


def _cases(root: Path, sparse_gb: float) -> dict[str, Path]:
    cases: dict[str, Path] = {}

    def landing(name: str, content: bytes | None = None) -> Path:
        path = root / name / "usage_events" / "e.csv"
        path.parent.mkdir(parents=True)
        path.write_bytes(content or b"")
        cases[name] = root / name
        return path

    with open(landing("sparse_csv"), "wb") as f:
        f.truncate(int(sparse_gb * (1 << 30)))
    landing("long_field", HEADER + b"C1,2026-01-01T08:00:00," + b"x" * 131_073 + b",1\n")
    landing("duplicated_header", b"customer_id,ts,ts,feature\nC1,2026-01-01,2026-01-01,login\n")
    deep = root / "deep_json" / "usage_events" / "e.jsonl"
    deep.parent.mkdir(parents=True)
    deep.write_bytes(b'{"customer_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n")
    cases["deep_json"] = root / "deep_json"
    return cases


def _run(landing: Path, data_dir: Path) -> dict[str, object]:
    env = {**os.environ, "PROACTIVE_DATA_DIR": str(data_dir)}
    data_dir.mkdir(parents=True)
    with open(data_dir / "out.txt", "w+b") as out, open(data_dir / "err.txt", "w+b") as err:
        proc = subprocess.Popen(  # noqa: S603 - our own CLI
            [*CLI, "ingest", str(landing), "--as-of", "2026-01-02T00:00:00"], env=env, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak, not the largest child so far
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    lines = (stderr or stdout).strip().splitlines()
    return {
        "exit": proc.returncode,
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "traceback": "Traceback" in stderr,
        "message": lines[0][:200] if lines else "",
    }


def main() -> None:
    """Run every hostile case once and print the results (last line JSON)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sparse-gb", type=float, default=2.0)
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, landing in _cases(root, args.sparse_gb).items():
            results[name] = _run(landing, root / f"data-{name}")
            print(name, results[name], flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
