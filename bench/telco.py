"""Telco churn benchmark: the model the trainer selects, on the IBM Telco data set.

Reads ``<shared_data_dir>/WA_Fn-UseC_-Telco-Customer-Churn.csv`` (override: PROACTIVE_SHARED_DATA_DIR), checks its
sha256, adapts the columns to numeric/categorical features (plus a little feature engineering). In each fold of a
5-fold stratified CV (shuffled; seeds 0..n-1) it does what the trainer does: fits every declared candidate of
models/candidates.yaml (the trainer's own functions) on 80% of the training fold, selects one by the declared
selection metric on the other 20% (the trainer's holdout), and scores the selected model as it would be shipped
on the test fold. Reports the mean and SD of that ROC-AUC over the folds and over the seeds.
Last line: JSON {"telco_roc_auc_cv5", "telco_roc_auc_cv5_std", "telco_roc_auc_cv5_seed_std", "seconds", ...}.

Usage: ``python bench/telco.py [--seeds 3]``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

FILE = "WA_Fn-UseC_-Telco-Customer-Churn.csv"
HOLDOUT_SHARE = 0.2  # the trainer's holdout: the share of each training fold the selection is made on
SHA256 = "16320c9c1ec72448db59aa0a26a0b95401046bef5d02fd3aeb906448e3055e91"
SERVICES = [
    "PhoneService",
    "MultipleLines",
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
]


def load_telco(path: Path) -> pd.DataFrame:
    """Read the CSV after checking its hash (altered public copies exist)."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise SystemExit(f"{path}: sha256 {digest} is not the published {SHA256}; refusing an altered copy")
    return pd.read_csv(path)


def adapt(df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, list[str], list[str]]:
    """Telco rows -> (features, 0/1 churn label, numeric columns, categorical columns)."""
    y = (df["Churn"] == "Yes").to_numpy(dtype=int)
    X = pd.DataFrame(index=df.index)
    tenure = df["tenure"].astype(float)
    monthly = df["MonthlyCharges"].astype(float)
    total = pd.to_numeric(df["TotalCharges"], errors="coerce").fillna(0.0)
    X["tenure"] = tenure
    X["log_tenure"] = np.log1p(tenure)
    X["monthly_charges"] = monthly
    X["total_charges"] = total
    X["log_total_charges"] = np.log1p(total)
    X["avg_charge_ratio"] = (total / tenure.where(tenure > 0, 1.0)) / monthly  # price changes over time
    X["senior"] = df["SeniorCitizen"].astype(float)
    X["n_services"] = sum((df[c] == "Yes").astype(float) for c in SERVICES)
    X["charge_per_service"] = monthly / (X["n_services"] + 1.0)
    X["tenure_x_monthly_contract"] = tenure * (df["Contract"] == "Month-to-month")
    cats = [
        "gender",
        "Partner",
        "Dependents",
        "PhoneService",
        "MultipleLines",
        "InternetService",
        "OnlineSecurity",
        "OnlineBackup",
        "DeviceProtection",
        "TechSupport",
        "StreamingTV",
        "StreamingMovies",
        "Contract",
        "PaperlessBilling",
        "PaymentMethod",
    ]
    for c in cats:
        X[c] = df[c].astype(object)
    X["tenure_bucket"] = pd.cut(tenure, [-1, 6, 12, 24, 48, 100], labels=False).astype(str).astype(object)
    X["contract_internet"] = (df["Contract"] + "|" + df["InternetService"]).astype(object)
    numeric = [c for c in X.columns if c not in cats + ["tenure_bucket", "contract_internet"]]
    return X, y, numeric, cats + ["tenure_bucket", "contract_internet"]


def selected_fold(
    specs: list[dict],
    metric: str,
    data: tuple[pd.DataFrame, np.ndarray],
    folds: tuple[np.ndarray, np.ndarray],
    columns: tuple[list[str], list[str]],
    seed: int,
) -> tuple[str, float, dict[str, float]]:
    """One outer fold, as the trainer works: fit every candidate on most of the training fold, select on the rest
    (its holdout) by the declared metric, and score the selected model, as shipped, on the test fold."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from proactive_ml.modeling.candidates import fit_candidate, select_best

    (X, y), (tr, te) = data, folds
    fit_idx, sel_idx = train_test_split(tr, test_size=HOLDOUT_SHARE, stratify=y[tr], random_state=seed)
    fit, sel = (X.iloc[fit_idx], y[fit_idx]), (X.iloc[sel_idx], y[sel_idx])
    results = [fit_candidate(spec, fit, sel, columns, importance=False) for spec in specs]
    best = select_best(results, metric)
    test_auc = {r.name: float(roc_auc_score(y[te], r.model.predict_proba(X.iloc[te])[:, 1])) for r in results}
    return best.name, test_auc[best.name], test_auc


def main() -> int:
    """Run the benchmark and print the JSON line."""
    import argparse

    from sklearn.model_selection import StratifiedKFold

    from proactive_ml.modeling.config import load_model_config
    from proactive_ml.settings import get_settings

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=3, help="CV shuffles (seeds 0..n-1); each is a 5-fold CV")
    args = ap.parse_args()
    t0 = time.perf_counter()
    X, y, numeric, categorical = adapt(load_telco(Path(get_settings().shared_data_dir) / FILE))
    cfg = load_model_config()
    specs, metric = list(cfg.candidates), cfg.training.selection_metric
    aucs: dict[int, list[float]] = {}
    per_model: dict[str, list[float]] = {s["name"]: [] for s in specs}
    chosen: dict[str, int] = {s["name"]: 0 for s in specs}
    for seed in range(args.seeds):
        aucs[seed] = []
        for folds in StratifiedKFold(n_splits=5, shuffle=True, random_state=seed).split(X, y):
            name, auc, each = selected_fold(specs, metric, (X, y), folds, (numeric, categorical), seed)
            aucs[seed].append(auc)
            chosen[name] += 1
            for k, v in each.items():
                per_model[k].append(v)
    every = [a for v in aucs.values() for a in v]
    seed_means = [float(np.mean(v)) for v in aucs.values()]
    out = {
        "telco_roc_auc_cv5": round(float(np.mean(every)), 4),
        "telco_roc_auc_cv5_std": round(float(np.mean([np.std(v) for v in aucs.values()])), 4),
        "telco_roc_auc_cv5_seed_means": [round(m, 4) for m in seed_means],
        "telco_roc_auc_cv5_seed_std": round(float(np.std(seed_means)), 4),
        "seeds": args.seeds,
        "seconds": round(time.perf_counter() - t0, 1),
        "model": f"the trainer's selection by holdout {metric} ({int(HOLDOUT_SHARE * 100)}% of each training fold) "
        "among " + ", ".join(per_model),
        "selected": chosen,
        "per_candidate_roc_auc_cv5": {k: round(float(np.mean(v)), 4) for k, v in per_model.items()},
        "folds": {seed: [round(a, 4) for a in v] for seed, v in aucs.items()},
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
