"""Benchmark: validate 1M and 10M synthetic usage-event rows (all-string frames, as ingestion hands them over).

No network, no files: string chunks are generated in-process with Arrow (generation time is excluded), a DuckDB
in-memory warehouse holds 100k known customers. 1M rows go through ``validate_batch`` as one in-memory frame;
10M rows stream through ``validate_stream`` in 1M-row chunks (bounded memory; valid rows are dropped after
counting, as a streaming loader would write them). Both include the GX run (on a uniform sample) and the Data
Docs build. Last line: JSON with validate_rows_per_s_1m, validate_rows_per_s_10m, peak_rss_gb.

    .venv/bin/python bench/validation.py [--rows-10m 10000000] [--chunk 1000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from proactive_ml import contract
from proactive_ml.settings import Settings
from proactive_ml.validation import validate_batch, validate_stream
from proactive_ml.warehouse import open_warehouse

AS_OF = datetime(2026, 3, 2, 6, 0)
N_CUSTOMERS = 100_000
DEFECT_SHARE = 0.001  # a few bad rows so the quarantine path is exercised


def _str(arr: pa.Array) -> pd.Series:
    return pd.Series(
        pd.arrays.ArrowStringArray(arr) if hasattr(pd.arrays, "ArrowStringArray") else arr.to_pylist()
    )


def make_chunk(n: int, first_line: int, ids: pa.Array, seed: int) -> pd.DataFrame:
    """``n`` usage-event rows as text columns (+ ``_line``, ``_decode_error``) with ~0.1% defects."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2026-03-01T00:00:00", "us")
    ts = pa.array(start + (rng.integers(0, 86_400_000_000, n)).astype("timedelta64[us]"))
    ts_text = pc.strftime(ts, format="%Y-%m-%d %H:%M:%S.%f")
    ts_text = pc.utf8_slice_codeunits(ts_text, 0, 26)
    cust = ids.take(pa.array(rng.integers(0, len(ids), n)))
    feats = pa.array(contract.FEATURES).take(pa.array(rng.integers(0, len(contract.FEATURES), n)))
    qty = pc.cast(pa.array(rng.integers(0, 50, n)), pa.string())
    bad = rng.random(n) < DEFECT_SHARE
    if bad.any():
        qty = pc.if_else(pa.array(bad), pa.scalar("-1"), qty)
    df = pd.DataFrame(
        {"customer_id": _str(cust), "ts": _str(ts_text), "feature": _str(feats), "quantity": _str(qty)}
    )
    df["_line"] = np.arange(first_line, first_line + n, dtype=np.int64)
    df["_decode_error"] = False
    return df


def peak_rss_gb() -> float:
    """Peak resident set size of this process (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print figures; the last line is JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows-1m", type=int, default=1_000_000)
    ap.add_argument("--rows-10m", type=int, default=10_000_000)
    ap.add_argument("--chunk", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-validation-"))
    settings = Settings(data_dir=tmp / "data", _env_file=None)  # type: ignore[call-arg]
    wh = open_warehouse("duckdb:///:memory:")
    ids = pa.array([f"c{i:07d}" for i in range(N_CUSTOMERS)])
    wh.insert_frame("customers", pd.DataFrame({"customer_id": ids.to_pylist()}), ["customer_id"])

    # warm-up: GX import and context creation are per process, not per batch
    t = time.perf_counter()
    validate_batch(
        wh, "usage_events", make_chunk(1000, 2, ids, 0), "warmup.csv", AS_OF, settings, record=False
    )
    print(f"warm-up (GX import + context): {time.perf_counter() - t:.1f}s", file=sys.stderr)

    raw = make_chunk(args.rows_1m, 2, ids, 1)
    t = time.perf_counter()
    res = validate_batch(wh, "usage_events", raw, "bench-1m.csv", AS_OF, settings, record=False)
    dt_1m = time.perf_counter() - t
    assert len(res.valid) + res.quarantined_lines == len(raw)
    sec_1m = res.stats["seconds"]
    print(
        f"1M: {len(raw):,} rows in {dt_1m:.2f}s = {len(raw) / dt_1m:,.0f} rows/s; valid {len(res.valid):,}, "
        f"quarantined {res.quarantined_lines:,}; row rules {sec_1m['rows']:.2f}s, GX + Data Docs {sec_1m['gx_and_docs']:.2f}s "
        f"on {res.gx_rows:,} sampled rows; docs {res.docs_path}",
        file=sys.stderr,
    )
    del raw, res

    counts = {"valid": 0, "quarantined": 0}
    gen_s = 0.0

    def chunks():
        nonlocal gen_s
        done = 0
        i = 0
        while done < args.rows_10m:
            n = min(args.chunk, args.rows_10m - done)
            g = time.perf_counter()
            c = make_chunk(n, 2 + done, ids, 100 + i)
            gen_s += time.perf_counter() - g
            yield c
            done += n
            i += 1

    def sink(valid: pd.DataFrame, quarantined: pd.DataFrame) -> None:
        counts["valid"] += len(valid)
        counts["quarantined"] += len(quarantined)

    t = time.perf_counter()
    res = validate_stream(
        wh,
        "usage_events",
        chunks(),
        "bench-10m.csv",
        AS_OF,
        settings,
        on_chunk=sink,
        expected_rows=args.rows_10m,
        record=False,
    )
    dt_10m = time.perf_counter() - t - gen_s
    assert counts["valid"] + counts["quarantined"] == args.rows_10m == res.rows
    print(
        f"10M: {res.rows:,} rows in {dt_10m:.2f}s (+{gen_s:.1f}s generation) = {res.rows / dt_10m:,.0f} rows/s; "
        f"quarantined {counts['quarantined']:,}; row rules {res.stats['seconds']['rows']:.2f}s, GX + Data Docs "
        f"{res.stats['seconds']['gx_and_docs']:.2f}s on {res.gx_rows:,} sampled rows",
        file=sys.stderr,
    )
    out = {
        "validate_rows_per_s_1m": round(args.rows_1m / dt_1m),
        "validate_rows_per_s_10m": round(res.rows / dt_10m),
        "peak_rss_gb": round(peak_rss_gb(), 2),
        "rows_1m": args.rows_1m,
        "rows_10m": args.rows_10m,
        "gx_sample_rows": res.gx_rows,
        "seconds_1m": round(dt_1m, 2),
        "seconds_10m": round(dt_10m, 2),
        "row_rules_rows_per_s_10m": round(res.rows / res.stats["seconds"]["rows"]),
        "gx_and_docs_seconds_10m": res.stats["seconds"]["gx_and_docs"],
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
