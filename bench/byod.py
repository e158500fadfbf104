"""Bring-your-own-data benchmark: the Telco snapshot through the CLI alone, and the simulated retailer's inactivity churn.

- ``telco_top_decile_reason_share`` / ``retail_top_decile_reason_share``: after ``proactive-ml score``, the share of
  the top decile of churn risk with at least one reason (goal 1.0).
- ``telco_cli_roc_auc_cv5``: ``examples/telco`` run as a new user would, in a fresh data folder, by subprocess only:
  ``proactive-ml ingest --sources examples/telco/sources.yaml --landing <shared_data_dir> --as-of ...`` then
  ``proactive-ml train --label snapshot``; the 5-fold CV ROC-AUC is read back from the MLflow training run
  (metric ``cv5_roc_auc``). The file's SHA-256 is checked first (altered public copies exist).
- ``retail_roc_auc`` / ``retail_recency_roc_auc``: the simulated retailer (``simulate --company retail``) through
  ``examples/retail/sources.yaml``, trained with ``--label inactivity --horizon auto``; both ROC-AUCs on the same
  holdout cutoff, over customers active at the cutoff (model vs ranking by days since the last purchase);
  ``retail_inactivity_days`` is the auto-chosen window, ``retail_false_churn_rate`` and ``retail_n_lapsed`` the
  label's counts. The yearly purchase files are ingested as they are (only the newest must be fresh).
Last line: one JSON object. Usage: ``python bench/byod.py [--customers 5000] [--telco-ref 0.8497]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import mlflow
import numpy as np
from sklearn.metrics import roc_auc_score

from proactive_ml.features.point_in_time import as_timestamp
from proactive_ml.modeling.config import label_spec
from proactive_ml.modeling.datasets import LABEL, build_dataset
from proactive_ml.modeling.reasons import top_decile_reason_share
from proactive_ml.modeling.train import train_and_register
from proactive_ml.settings import PROJECT_ROOT, get_settings
from proactive_ml.warehouse import open_warehouse

TELCO_FILE = "WA_Fn-UseC_-Telco-Customer-Churn.csv"
TELCO_SHA256 = "16320c9c1ec72448db59aa0a26a0b95401046bef5d02fd3aeb906448e3055e91"
CLI = [sys.executable, "-m", "proactive_ml.cli"]
RETAIL_AS_OF = date(2026, 7, 1)


def _run(args: list[str], data_dir: Path) -> str:
    env = {**os.environ, "PROACTIVE_DATA_DIR": str(data_dir)}
    done = subprocess.run(  # noqa: S603 - our own CLI
        CLI + args, capture_output=True, text=True, cwd=PROJECT_ROOT, env=env, timeout=3600, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def telco_cli(work: Path) -> dict[str, float]:
    """Telco through examples/telco with the CLI only; the CV ROC-AUC read from the MLflow run."""
    shared = Path(get_settings().shared_data_dir)
    digest = hashlib.sha256((shared / TELCO_FILE).read_bytes()).hexdigest()
    if digest != TELCO_SHA256:
        raise SystemExit(f"{shared / TELCO_FILE}: sha256 {digest} is not the published {TELCO_SHA256}")
    data = work / "telco"
    sources = str(PROJECT_ROOT / "examples" / "telco" / "sources.yaml")
    _run(["ingest", "--sources", sources, "--landing", str(shared), "--as-of", "2026-07-01T00:00:00"], data)
    out = json.loads(
        _run(["train", "--label", "snapshot", "--as-of", "2026-07-01"], data).strip().splitlines()[-1]
    )
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{data / 'mlflow.db'}")
    run = client.get_run(out["parent_run_id"])
    _run(["score", "--target", "churn", "--as-of", "2026-07-01"], data)
    return {
        "telco_cli_roc_auc_cv5": round(run.data.metrics["cv5_roc_auc"], 4),
        "telco_cli_best": out["best"],
        "telco_top_decile_reason_share": reason_share(data),
    }


def reason_share(data: Path) -> float:
    """top_decile_reason_share of the churn scores the CLI's ``score`` wrote in this data folder."""
    settings = get_settings(data_dir=str(data))
    with open_warehouse(settings.resolved_warehouse_url) as wh:
        scores = wh.query("SELECT score, reason_1 FROM scores WHERE target = 'churn'")
    return round(top_decile_reason_share(scores), 4)


def retail(work: Path, customers: int) -> dict[str, float | int]:
    """The simulated retailer: inactivity label with the auto window; model vs recency on the holdout cutoff."""
    data = work / "retail"
    landing = work / "retail_landing"
    _run(
        [
            "simulate",
            "--company",
            "retail",
            "--customers",
            str(customers),
            "--seed",
            "42",
            "--out",
            str(landing),
        ],
        data,
    )
    sources = str(PROJECT_ROOT / "examples" / "retail" / "sources.yaml")
    _run(["ingest", "--sources", sources, "--landing", str(landing), "--as-of", "2026-07-01T00:00:00"], data)
    settings = get_settings(data_dir=str(data))
    with open_warehouse(settings.resolved_warehouse_url) as wh:
        out = train_and_register(wh, settings, RETAIL_AS_OF, "churn", label="inactivity", horizon="auto")
        n = int(out["label_horizon_days"])
        spec = label_spec("churn", definition="inactivity", horizon=n)
        cut = date.fromisoformat(out["holdout_cutoff"])
        holdout = build_dataset(wh, [cut], "churn", n, True, label=spec, data_end=RETAIL_AS_OF)
    _run(["score", "--target", "churn", "--as-of", RETAIL_AS_OF.isoformat()], data)
    y = holdout[LABEL].to_numpy(dtype=int)
    recency = roc_auc_score(y, holdout["days_since_last_activity"].to_numpy(dtype=float))
    return {
        "retail_roc_auc": round(out["metrics"][out["best"]]["roc_auc"], 4),
        "retail_recency_roc_auc": round(float(recency), 4),
        "retail_inactivity_days": n,
        "retail_top_decile_reason_share": reason_share(data),
        "retail_false_churn_rate": round(float(out["false_churn_rate"]), 4),
        "retail_n_lapsed": int(out["n_lapsed"]),
        "retail_holdout_cutoff": str(as_timestamp(cut).date()),
        "retail_holdout_rows": len(holdout),
        "retail_holdout_positive_rate": round(float(np.mean(y)), 4),
        "retail_customers": customers,
    }


def main() -> int:
    """Run both parts and print the JSON line."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--customers", type=int, default=5000, help="simulated retail customers (default 5000)")
    ap.add_argument("--telco-ref", type=float, help="bench/telco.py's telco_roc_auc_cv5 to compare with")
    ap.add_argument("--skip", choices=["telco", "retail"], help="leave one part out")
    args = ap.parse_args()
    t0 = time.perf_counter()
    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="byod-") as tmp:
        if args.skip != "telco":
            result |= telco_cli(Path(tmp))
            if args.telco_ref is not None:
                result["telco_ref_roc_auc_cv5"] = args.telco_ref
                result["telco_gap"] = round(float(result["telco_cli_roc_auc_cv5"]) - args.telco_ref, 4)  # type: ignore[arg-type]
        if args.skip != "retail":
            result |= retail(Path(tmp), args.customers)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
