"""Themes benchmark: the report's topic model on 9,178 real negative airline tweets with human-labelled reasons.

Reads ``<shared_data_dir>/Airline-Sentiment-2-w-AA.csv`` (override: PROACTIVE_SHARED_DATA_DIR; latin-1), checks
its sha256, runs :func:`proactive_ml.measurement.themes.fit_themes` with the shipped defaults on every negative
tweet and compares each tweet's theme with its labelled ``negativereason`` ("Can't Tell" excluded) by normalized
mutual information. ``airline_nmi_odd`` is the same on odd-numbered tweets only: the defaults were chosen by
``--tune`` as the grid point (themes 8/10/12/15 x min_df 3/5, words + bigrams) with the best NMI on the
even-numbered tweets, so the odd half is the honest figure.
Last line: JSON {"airline_nmi", "airline_nmi_odd", "seconds", "n_texts", "n_themes", "min_df", "themes"}.

Usage: ``python bench/themes.py [--tune]``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import normalized_mutual_info_score

from proactive_ml.measurement import themes

FILE = "Airline-Sentiment-2-w-AA.csv"
SHA256 = "77f230e2355fca746e8fab63799853c9b4c19315a723c287234d060a21f2cfbb"


def data_path() -> Path:
    """The tweets file under PROACTIVE_SHARED_DATA_DIR (default: the settings' shared_data_dir)."""
    env = os.environ.get("PROACTIVE_SHARED_DATA_DIR")
    if env:
        return Path(env) / FILE
    from proactive_ml.settings import Settings

    return Settings(_env_file=None).shared_data_dir / FILE  # type: ignore[call-arg]


def load() -> pd.DataFrame:
    """Negative tweets (text, negativereason) after the sha256 check."""
    path = data_path()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256:
        sys.exit(f"{path}: sha256 {digest} != expected {SHA256}; refusing an altered copy")
    df = pd.read_csv(path, encoding="latin-1")
    return df[df["airline_sentiment"] == "negative"].reset_index(drop=True)


def nmi(labels: pd.Series, assignment: np.ndarray, rows: np.ndarray) -> float:
    """NMI of theme vs labelled reason on ``rows`` without "Can't Tell"."""
    keep = rows & (labels != "Can't Tell").to_numpy()
    return float(normalized_mutual_info_score(labels[keep], assignment[keep]))


def main(tune: bool = False) -> dict[str, object]:
    """Run the shipped defaults (or the tuning grid with ``tune``) and return the figures."""
    neg = load()
    texts, labels = neg["text"].astype(str).tolist(), neg["negativereason"].fillna("")
    even = np.arange(len(neg)) % 2 == 0
    if tune:
        for k in (8, 10, 12, 15):
            for min_df in (3, 5):
                _, a = themes.fit_themes(texts, k, min_df=min_df)
                print(f"themes={k} min_df={min_df} nmi_even={nmi(labels, a, even):.4f}", file=sys.stderr)
    t0 = time.perf_counter()
    table, assignment = themes.fit_themes(texts)
    seconds = time.perf_counter() - t0
    return {
        "airline_nmi": round(nmi(labels, assignment, np.ones(len(neg), bool)), 4),
        "airline_nmi_odd": round(nmi(labels, assignment, ~even), 4),
        "seconds": round(seconds, 2),
        "n_texts": len(texts),
        "n_themes": themes.N_THEMES,
        "min_df": themes.MIN_DF,
        "themes": [f"{r.terms} ({r.texts})" for r in table.itertuples()],
    }


if __name__ == "__main__":
    print(json.dumps(main(tune="--tune" in sys.argv)))
