"""Hillstrom e-mail uplift benchmark with the product's uplift code (declared learners, their one fit path).

Womens E-Mail vs No E-Mail, outcome ``visit``. Every learner declared under ``uplift: learners:`` in
models/candidates.yaml is fitted on the 70% training part of split seeds 0-29 (stratified on outcome and
treatment) and scored by uplift@30% (scikit-uplift's ``by_group`` rule) on the 30% validation part; the best mean
is chosen (proactive_ml.modeling.uplift_selection), and only then are the chosen learner and the plain two-model
logistic regression scored on fresh split seeds 30-59. Goal: chosen mean >= 0.074 and above the two-model LR.
The single seed-42 figure of the shipped default learner is kept for continuity. The data file is checked against
its published SHA-256 first. One thread per process (``n_jobs=1``). Last line: JSON.

``--selection-only``: score the declared learners on the choice seeds 0-29 only and print their means and the
choice; no report split (30-59) is fitted or scored. For developing learners without looking at the report seeds.
It also prints each learner's CPU seconds and its paired per-seed difference to the best (mean and standard error);
``--only a,b`` scores just those declared learners.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from proactive_ml.modeling.config import load_model_config
from proactive_ml.modeling.uplift import qini_auc, uplift_at_k
from proactive_ml.modeling.uplift_selection import (
    CHOICE_SEEDS,
    choose_learner,
    choose_then_report,
    fit_learner,
    split_rows,
    split_scores,
)

SHA256 = "0e5893329d8b93cefecc571777672028290ab69865718020c78c7284f291aece"
FEATURES = ["recency", "history", "mens", "womens", "zip_code", "newbie", "channel"]


def data_path() -> Path:
    """hillstrom.csv under PROACTIVE_SHARED_DATA_DIR (default: the settings' shared_data_dir)."""
    env = os.environ.get("PROACTIVE_SHARED_DATA_DIR")
    if env:
        return Path(env) / "hillstrom.csv"
    from proactive_ml.settings import Settings

    return Settings(_env_file=None).shared_data_dir / "hillstrom.csv"  # type: ignore[call-arg]


def load() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Features, treatment (Womens E-Mail = 1) and visit, after the SHA-256 check."""
    path = data_path()
    if not path.is_file():
        sys.exit(f"{path}: not found; set PROACTIVE_SHARED_DATA_DIR to the folder that holds hillstrom.csv")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256:
        sys.exit(f"{path}: sha256 {digest} != expected {SHA256}; refusing an altered copy")
    df = pd.read_csv(path)
    df = df[df["segment"].isin(["Womens E-Mail", "No E-Mail"])].reset_index(drop=True)
    X = df[FEATURES].copy()
    for c in ("mens", "womens", "newbie"):
        X[c] = X[c].astype(str)  # binary flags as categories
    return X, (df["segment"] == "Womens E-Mail").astype(int).to_numpy(), df["visit"].astype(int).to_numpy()


def seed42(X: pd.DataFrame, t: np.ndarray, y: np.ndarray, learner: str) -> dict[str, float]:
    """The shipped default learner on the historical single split (seed 42), scored by scikit-uplift if present."""
    train, valid = split_rows(t, y, seed=42)
    spec = load_model_config().uplift.spec(learner)
    u = fit_learner(spec, X.iloc[train], t[train], y[train]).predict_uplift(X.iloc[valid])
    try:
        from sklift.metrics import uplift_at_k as sklift_uplift_at_k

        score = float(sklift_uplift_at_k(y[valid], u, t[valid], strategy="by_group", k=0.3))
    except ImportError:  # scikit-uplift is a dev dependency; the product's own implementation is equivalent
        score = uplift_at_k(y[valid], u, t[valid], k=0.3)
    rand = uplift_at_k(y[valid], np.random.default_rng(42).random(len(valid)), t[valid], k=0.3)
    return {"seed42_uplift_at_30": score, "seed42_qini_auc": qini_auc(y[valid], u, t[valid]), "random": rand}


def _paired_vs_best(scores: dict[str, dict[str, list[float]]], best: str) -> dict[str, list[float]]:
    """Per learner: mean and standard error of its per-seed uplift@30% minus the chosen learner's (same splits)."""
    ref = np.asarray(scores[best]["uplift_at_k"])
    out = {}
    for name, s in scores.items():
        d = np.asarray(s["uplift_at_k"]) - ref
        out[name] = [round(float(d.mean()), 4), round(float(d.std(ddof=1) / np.sqrt(len(d))), 4)]
    return out


def selection_only(only: list[str] | None = None) -> dict[str, object]:
    """Every declared learner's mean and SD of uplift@30% on the choice seeds 0-29, and the choice; nothing else.

    ``only``: score just these declared learners. Each learner is scored on its own (the same splits), so its
    CPU seconds can be reported; ``paired_diff_vs_chosen`` = [mean, SE] of its per-seed difference to the choice.
    """
    t0 = time.perf_counter()
    X, t, y = load()
    cfg = load_model_config().uplift
    learners = [cfg.spec(name) for name in only] if only else list(cfg.learners)
    scores: dict[str, dict[str, list[float]]] = {}
    cpu: dict[str, float] = {}
    with threadpool_limits(limits=1):
        for spec in learners:
            c0 = time.process_time()
            scores |= split_scores(X, t, y, [spec], CHOICE_SEEDS)
            cpu[spec.name] = round(time.process_time() - c0, 1)
    chosen = choose_learner(scores)
    out: dict[str, object] = {
        "choice_means_seeds_0_29": {k: round(float(np.mean(v["uplift_at_k"])), 4) for k, v in scores.items()},
        "choice_sd_seeds_0_29": {
            k: round(float(np.std(v["uplift_at_k"], ddof=1)), 4) for k, v in scores.items()
        },
        "paired_diff_vs_chosen": _paired_vs_best(scores, chosen),
        "cpu_seconds": cpu,
        "chosen_learner": chosen,
        "report_seeds": "none (selection only)",
        "seconds": round(time.perf_counter() - t0, 1),
        "loadavg_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(out))
    return out


def main() -> dict[str, object]:
    t0 = time.perf_counter()
    X, t, y = load()
    cfg = load_model_config().uplift
    with threadpool_limits(limits=1):
        res = choose_then_report(X, t, y, cfg.learners)
        single = seed42(X, t, y, cfg.learner)
    out: dict[str, object] = {
        "hillstrom_uplift_at_30_mean30": round(res["chosen_report"]["mean"], 4),
        "hillstrom_uplift_at_30_sd30": round(res["chosen_report"]["sd"], 4),
        "hillstrom_two_model_lr_mean30": round(res["baseline_report"]["mean"], 4),
        "hillstrom_two_model_lr_sd30": round(res["baseline_report"]["sd"], 4),
        "hillstrom_qini_auc_mean30": round(res["chosen_report_qini"]["mean"], 4),
        "chosen_learner": res["chosen"],
        "choice_means_seeds_0_29": {k: round(v, 4) for k, v in res["choice_means"].items()},
        "report_seeds": "30-59",
        "shipped_default_learner": cfg.learner,
        "seed42_uplift_at_30": round(single["seed42_uplift_at_30"], 4),
        "seed42_qini_auc": round(single["seed42_qini_auc"], 4),
        "random_uplift_at_30": round(single["random"], 4),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(
        f"Hillstrom (Womens E-Mail vs No E-Mail, visit): chosen {out['chosen_learner']} on seeds 0-29; "
        f"uplift@30% over seeds 30-59 = {out['hillstrom_uplift_at_30_mean30']} (SD {out['hillstrom_uplift_at_30_sd30']}, "
        f"goal >= 0.074) vs two-model LR {out['hillstrom_two_model_lr_mean30']}",
        file=sys.stderr,
    )
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--selection-only", action="store_true", help="score on the choice seeds 0-29 only")
    ap.add_argument("--only", help="with --selection-only: comma-separated declared learner names to score")
    args = ap.parse_args()
    if args.only and not args.selection_only:
        ap.error("--only needs --selection-only (the full run chooses among all declared learners)")
    if args.selection_only:
        selection_only(args.only.split(",") if args.only else None)
    else:
        main()
