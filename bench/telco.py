"""Telco churn benchmark: the modeling candidates (same pipelines as the trainer) on the IBM Telco data set.

Reads ``<shared_data_dir>/WA_Fn-UseC_-Telco-Customer-Churn.csv`` (override: PROACTIVE_SHARED_DATA_DIR), checks its
sha256, adapts the columns to numeric/categorical features (plus a little feature engineering), and reports the
5-fold stratified (shuffled, seed 0) cross-validated ROC-AUC of the average of the declared candidates'
calibrated probabilities. Last line: JSON {"telco_roc_auc_cv5", "telco_roc_auc_cv5_std", "seconds", ...}.
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


def main() -> int:
    """Run the benchmark and print the JSON line."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from proactive_ml.modeling.train import build_pipeline, load_model_config
    from proactive_ml.settings import get_settings

    t0 = time.perf_counter()
    path = Path(get_settings().shared_data_dir) / FILE
    X, y, numeric, categorical = adapt(load_telco(path))
    specs = list(load_model_config().candidates)
    from threadpoolctl import threadpool_limits

    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    aucs: list[float] = []
    per_model: dict[str, list[float]] = {s["name"]: [] for s in specs}
    for tr, te in folds.split(X, y):
        probs = []
        for spec in specs:
            with threadpool_limits(limits=1, user_api="openmp"):  # small data: one thread is faster here
                m = build_pipeline(spec, numeric, categorical).fit(X.iloc[tr], y[tr])
            p = m.predict_proba(X.iloc[te])[:, 1]
            per_model[spec["name"]].append(roc_auc_score(y[te], p))
            probs.append(p)
        aucs.append(roc_auc_score(y[te], np.mean(probs, axis=0)))
    out = {
        "telco_roc_auc_cv5": round(float(np.mean(aucs)), 4),
        "telco_roc_auc_cv5_std": round(float(np.std(aucs)), 4),
        "seconds": round(time.perf_counter() - t0, 1),
        "model": "average of " + " + ".join(per_model),
        "per_candidate_roc_auc_cv5": {k: round(float(np.mean(v)), 4) for k, v in per_model.items()},
        "folds": [round(a, 4) for a in aucs],
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
