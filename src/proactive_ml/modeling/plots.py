"""Evaluation plots as matplotlib ``Figure`` objects (object API, no pyplot: no GUI backend is ever needed).

The MLflow edge logs them with ``mlflow.log_figure``; ``make_plots`` returns them by artifact file name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve


def _figure(title: str) -> tuple[Figure, Any]:
    fig = Figure(figsize=(5, 4), dpi=90)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig, ax


def roc_figure(y: np.ndarray, p: np.ndarray) -> Figure:
    """ROC curve with the diagonal."""
    fpr, tpr, _ = roc_curve(y, p)
    fig, ax = _figure("ROC")
    ax.plot(fpr, tpr, label="model")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="random")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def pr_figure(y: np.ndarray, p: np.ndarray) -> Figure:
    """Precision-recall curve with the base rate."""
    prec, rec, _ = precision_recall_curve(y, p)
    fig, ax = _figure("Precision-recall")
    ax.plot(rec, prec, label="model")
    ax.axhline(float(np.mean(y)), ls="--", color="grey", label="base rate")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def calibration_figure(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> Figure:
    """Reliability diagram (quantile bins)."""
    frac, mean_p = calibration_curve(y, p, n_bins=n_bins, strategy="quantile")
    fig, ax = _figure("Calibration")
    ax.plot(mean_p, frac, "o-", label="model")
    hi = float(max(mean_p.max(initial=0), frac.max(initial=0), 0.05))
    ax.plot([0, hi], [0, hi], "--", color="grey", label="perfect")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed frequency")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def gain_lift_figure(y: np.ndarray, p: np.ndarray) -> Figure:
    """Cumulative gain (share of positives captured) and lift by share of customers contacted."""
    y = np.asarray(y, dtype=float)
    order = np.argsort(-np.asarray(p, dtype=float), kind="stable")
    captured = np.cumsum(y[order]) / max(y.sum(), 1.0)
    share = np.arange(1, len(y) + 1) / len(y)
    lift = captured / share
    fig = Figure(figsize=(9, 4), dpi=90)
    ax1 = fig.add_subplot(1, 2, 1)
    ax1.plot(share, captured, label="model")
    ax1.plot([0, 1], [0, 1], "--", color="grey", label="random")
    ax1.set_title("Cumulative gain")
    ax1.set_xlabel("share of customers contacted")
    ax1.set_ylabel("share of positives reached")
    ax1.legend(loc="lower right")
    ax2 = fig.add_subplot(1, 2, 2)
    ax2.plot(share, lift)
    ax2.axhline(1.0, ls="--", color="grey")
    ax2.set_title("Lift")
    ax2.set_xlabel("share of customers contacted")
    ax2.set_ylabel("lift over random")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def importance_figure(importance: pd.Series, top: int = 20) -> Figure:
    """Horizontal bars of the largest feature importances."""
    imp = importance.sort_values(ascending=True).tail(top)
    fig = Figure(figsize=(7, max(3, 0.28 * len(imp) + 1.2)), dpi=90)
    ax = fig.add_subplot(1, 1, 1)
    ax.barh(imp.index.astype(str), imp.values)
    # Over the whole figure, not the axes (long feature names leave the axes narrow): the title always fits.
    fig.suptitle("Feature importance\nholdout ROC-AUC drop when the feature is shuffled", fontsize="medium")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def make_plots(y: np.ndarray, p: np.ndarray, importance: pd.Series | None = None) -> dict[str, Figure]:
    """All evaluation plots keyed by artifact file name."""
    figs = {
        "roc.png": roc_figure(y, p),
        "precision_recall.png": pr_figure(y, p),
        "calibration.png": calibration_figure(y, p),
        "gain_lift.png": gain_lift_figure(y, p),
    }
    if importance is not None and len(importance):
        figs["feature_importance.png"] = importance_figure(importance)
    return figs


def qini_figure(x: np.ndarray, q: np.ndarray) -> Figure:
    """Qini curve (incremental responders by number targeted) against random targeting."""
    fig, ax = _figure("Qini (validation split)")
    ax.plot(x, q, label="uplift model")
    ax.plot([0, x[-1]], [0, q[-1]], "--", color="grey", label="random")
    ax.set_xlabel("customers targeted (by predicted uplift)")
    ax.set_ylabel("incremental retained customers")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig
