"""Intervals for a difference of two rates that hold for small and large groups (pure functions).

- :func:`wilson_interval` / :func:`newcombe_interval`: Newcombe's hybrid score interval for ``p1 - p2`` (method 10
  of Newcombe 1998, no continuity correction), built from each arm's Wilson score interval. Unlike the Wald
  interval it keeps a sensible width when an arm never varies (74 of 74 retained) and stays inside [-1, 1].
- :func:`diff_ci`: the interval the report uses, Newcombe for 0/1 outcomes and Welch/Wald otherwise.
- :func:`bootstrap_ci`: a percentile bootstrap that streams its draws in fixed-size blocks and keeps only the
  vector of per-draw differences, so memory does not grow with ``customers x draws``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Z95 = 1.959963984540054
#: most values resampled at once by the bootstrap (block of draws x arm size); 4M int64 indices = 32 MB
BLOCK_ELEMENTS = 1 << 22
#: arms with at most this many distinct values are resampled exactly through multinomial counts
MAX_DISTINCT_FOR_COUNTS = 64


def wilson_interval(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``successes / n`` (``(nan, nan)`` when ``n`` is 0)."""
    if n <= 0:
        return float("nan"), float("nan")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    low = 0.0 if successes <= 0 else max(0.0, centre - half)  # exact 0 / 1 at the ends, not a rounding error
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return float(low), float(high)


def newcombe_interval(
    x1: float, n1: float, x2: float, n2: float, z: float = Z95
) -> tuple[float, float, float]:
    """Difference ``x1/n1 - x2/n2`` with Newcombe's hybrid score interval (method 10, no continuity correction).

    Each arm gets its Wilson interval ``(l_i, u_i)``; the difference ``d = p1 - p2`` gets
    ``d - sqrt((p1 - l1)^2 + (u2 - p2)^2)`` to ``d + sqrt((u1 - p1)^2 + (p2 - l2)^2)``.
    Example: 90/100 vs 74/74 gives -0.100 (-0.174 ... -0.033), where Wald says -0.159 ... -0.041.

    Returns:
        ``(difference, low, high)``; all NaN when an arm is empty.
    """
    if n1 <= 0 or n2 <= 0:
        return float("nan"), float("nan"), float("nan")
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, z)
    l2, u2 = wilson_interval(x2, n2, z)
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return float(d), float(low), float(high)


def _is_binary(a: np.ndarray) -> bool:
    return bool(np.all((a == 0) | (a == 1)))


def wald_interval(a: np.ndarray, b: np.ndarray, z: float = Z95) -> tuple[float, float, float]:
    """Difference of means with the normal-approximation (Welch, unpooled) interval."""
    d = a.mean() - b.mean()
    se = np.sqrt(
        (a.var(ddof=1) / len(a) if len(a) > 1 else 0.0) + (b.var(ddof=1) / len(b) if len(b) > 1 else 0.0)
    )
    return float(d), float(d - z * se), float(d + z * se)


def diff_ci(treated: Any, holdout: Any, z: float = Z95) -> tuple[float, float, float]:
    """Difference of means (treated - holdout) and its interval: Newcombe for 0/1 outcomes, Wald otherwise."""
    a, b = np.asarray(treated, float), np.asarray(holdout, float)
    if len(a) == 0 or len(b) == 0:
        return float("nan"), float("nan"), float("nan")
    if _is_binary(a) and _is_binary(b):
        return newcombe_interval(a.sum(), len(a), b.sum(), len(b), z)
    return wald_interval(a, b, z)


def _resampled_means(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` means of ``x`` resampled with replacement, without ever holding ``len(x) x n_boot`` values.

    Few distinct values (0/1 outcomes): the counts of each value in a resample are multinomial, which is the same
    distribution as drawing customers, in ``O(distinct x n_boot)`` memory. Otherwise draws are made in blocks of
    at most :data:`BLOCK_ELEMENTS` indices and reduced to their means at once.
    """
    n = len(x)
    values, counts = np.unique(x, return_counts=True)
    if len(values) <= MAX_DISTINCT_FOR_COUNTS:
        draws = rng.multinomial(n, counts / n, size=n_boot)
        return np.asarray(draws @ values / n, float)
    out = np.empty(n_boot)
    block = max(1, BLOCK_ELEMENTS // n)
    for start in range(0, n_boot, block):
        stop = min(n_boot, start + block)
        if block == 1:
            out[start] = x[rng.integers(0, n, n)].mean()
        else:
            out[start:stop] = x[rng.integers(0, n, (stop - start, n))].mean(axis=1)
    return out


def bootstrap_ci(
    treated: Any, holdout: Any, n_boot: int = 2000, seed: int = 42, alpha: float = 0.05
) -> tuple[float, float, float]:
    """Difference of means with a percentile bootstrap interval (resampling each arm), in streaming memory.

    Memory is ``O(n_boot + arm size)`` plus one bounded block: only the per-draw means are kept.
    """
    a, b = np.asarray(treated, float), np.asarray(holdout, float)
    if len(a) == 0 or len(b) == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    diffs = _resampled_means(a, n_boot, rng)
    diffs -= _resampled_means(b, n_boot, rng)
    lo, hi = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    return float(a.mean() - b.mean()), float(lo), float(hi)


#: mixing scale of the always-valid interval: effects of a few points of rate are what we expect to see
TAU = 0.05


def always_valid_interval(
    x1: Any, n1: Any, x2: Any, n2: Any, alpha: float = 0.05, tau: float = TAU
) -> tuple[Any, Any, Any]:
    """Difference ``x1/n1 - x2/n2`` with a confidence sequence: safe to look at after every new day of data.

    The normal-mixture (mSPRT) confidence sequence of Johari, Pekelis and Walsh (2017) on the difference of rates,
    with plug-in variance ``V = p1(1-p1)/n1 + p2(1-p2)/n2`` (rates shrunk by half a success to stay positive) and
    mixing variance ``tau^2``: ``d +- sqrt(V (V + tau^2) / tau^2 * (2 log(1/alpha) + log((V + tau^2) / V)))``.
    The chance that it ever excludes the true difference, over all looks, is about ``alpha``; it is wider than
    the fixed-horizon interval, which is the price of peeking. Works elementwise on arrays.

    Returns:
        ``(difference, low, high)`` (NaN where an arm is empty).
    """
    x1, n1, x2, n2 = (np.asarray(v, float) for v in (x1, n1, x2, n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        d = x1 / n1 - x2 / n2
        q1, q2 = (x1 + 0.5) / (n1 + 1), (x2 + 0.5) / (n2 + 1)
        v = q1 * (1 - q1) / n1 + q2 * (1 - q2) / n2
        t2 = tau * tau
        half = np.sqrt(v * (v + t2) / t2 * (2 * np.log(1 / alpha) + np.log((v + t2) / v)))
    low, high = np.maximum(d - half, -1.0), np.minimum(d + half, 1.0)
    if d.ndim == 0:
        return float(d), float(low), float(high)
    return d, low, high
