"""A simulated non-subscription retailer: a purchase log with no cancellation date, in the company's own format.

Files written (the way a real export looks, not the contract):

- ``purchases/purchases_<YYYY>.txt`` — one line per purchase, no header, columns separated by runs of spaces:
  customer number (zero-padded, 6 digits), date (``YYYYMMDD``), items, dollar value (2 decimals). A customer may
  buy several times on one day: one line each (same customer, same date).
- ``customers/customers.csv`` — comma-delimited UTF-8 with a header: ``cust_id, region, age_band, member_since``
  (``DD/MM/YYYY``, the day of the first purchase), ``email`` and ``name`` (only for some customers), ``opt_in``
  (``Y``/``N``) and ``rating`` (stars of the last review, 1-5, blank if the customer never reviewed).

The latent world: every customer has a hidden purchase rate (log-normal across customers, weekly and seasonal
swings, occasional pauses after which they come back). A churn episode starts with a hazard that depends on
region, age band and a hidden satisfaction (which the ``rating`` reveals, noisily, for about half of them); once
started, the purchase rate decays and the basket shrinks over 60-150 days, then the customer never buys again.
So recency alone is a weak ranking (a slow buyer looks lapsed, a fast buyer in decline still looks recent);
frequency and spend trends relative to the customer's own history, plus the attributes, carry the signal.
:func:`retail_truth` exposes who churned when, for benchmarks only; the landing files never contain it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REGIONS = np.array(["North", "South", "East", "West", "Online"])
REGION_P = (0.22, 0.24, 0.2, 0.18, 0.16)
REGION_EFFECT = np.array([-0.3, 0.2, -0.5, 0.0, 0.9])
AGE_BANDS = np.array(["18-24", "25-34", "35-44", "45-54", "55-64", "65+"])
AGE_P = (0.12, 0.24, 0.22, 0.18, 0.14, 0.10)
AGE_EFFECT = np.array([0.5, 0.25, 0.0, -0.15, -0.3, -0.4])
FIRST_NAMES = np.array(["Ann", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jo", "Kim", "Lea"])
LAST_NAMES = np.array(["Adams", "Brown", "Chen", "Diaz", "Evans", "Ford", "Garcia", "Hill", "Ito", "Jones"])
CHUNK = 2000  # customers simulated at once (bounds memory; fixed, so the output does not depend on it)
NEVER = 1e9


@dataclass(frozen=True)
class RetailConfig:
    """Knobs of the simulated retailer (defaults: three years to 2026-06-30, a purchase every ~18 days, ~40% churn)."""

    start: date = date(2023, 7, 1)
    days: int = 1096
    join_share: float = 0.7  # customers join uniformly over this share of the period
    mean_gap_days: float = 18.0  # median days between purchases across customers
    gap_sigma: float = 0.9  # spread of purchase rates (log-normal sigma)
    max_gap_days: float = 75.0  # even the slowest regular buys about this often
    basket_mean: float = 35.0  # median dollars per purchase across customers
    churn_hazard: float = 0.0009  # daily hazard of starting to churn, before attribute effects
    satisfaction_effect: float = 1.1  # log-hazard per standard deviation of (low) satisfaction
    decay_days: tuple[float, float] = (60.0, 150.0)  # a churner's fade-out, from first decline to gone
    pauses_per_year: float = 0.6  # temporary breaks of customers who then come back
    pause_days: tuple[float, float] = (14.0, 45.0)


def _latents(n: int, cfg: RetailConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The hidden and the observable attributes of every customer (day offsets are floats from ``start``)."""
    signup = rng.integers(0, max(int(cfg.days * cfg.join_share), 1), n)
    region = rng.choice(len(REGIONS), n, p=REGION_P)
    age = rng.choice(len(AGE_BANDS), n, p=AGE_P)
    sat = rng.standard_normal(n)
    gap = np.minimum(rng.lognormal(np.log(cfg.mean_gap_days), cfg.gap_sigma, n), cfg.max_gap_days)
    basket = rng.lognormal(np.log(cfg.basket_mean), 0.5, n)
    hazard = cfg.churn_hazard * np.exp(
        REGION_EFFECT[region] + AGE_EFFECT[age] - cfg.satisfaction_effect * sat
    )
    onset = signup + rng.exponential(1.0 / hazard)
    decay = rng.uniform(*cfg.decay_days, n)
    n_pauses = np.minimum(rng.poisson(cfg.pauses_per_year * cfg.days / 365.0, n), 3)
    pause_start = rng.uniform(signup[:, None], cfg.days, (n, 3))
    pause_start = np.where(np.arange(3)[None, :] < n_pauses[:, None], pause_start, NEVER)
    pause_len = rng.uniform(*cfg.pause_days, (n, 3))
    rating = np.clip(np.round(3.6 + 0.9 * sat + rng.normal(0.0, 0.6, n)), 1, 5)
    rated = rng.random(n) < 0.55
    return {
        "signup": signup,
        "region": region,
        "age": age,
        "sat": sat,
        "gap": gap,
        "basket": basket,
        "onset": onset,
        "decay": decay,
        "gone": np.ceil(onset + decay),  # first day without any chance of a purchase
        "pause_start": pause_start,
        "pause_len": pause_len,
        "rating": np.where(rated, rating, np.nan),
    }


def _season(cfg: RetailConfig) -> np.ndarray:
    """A multiplier per day: busier weekends, a December peak, a quiet January."""
    days = np.datetime64(cfg.start, "D") + np.arange(cfg.days)
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    mult = np.where(weekday >= 5, 1.3, 0.92)
    return mult * np.select([month == 12, month == 1], [1.4, 0.85], 1.0)


def _chunk_purchases(
    lat: dict[str, np.ndarray], sl: slice, season: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Purchases of one block of customers: (customer index, day, dollar value) per purchase line."""
    t = np.arange(len(season))[None, :]
    signup = lat["signup"][sl, None]
    into = np.clip((t - lat["onset"][sl, None]) / lat["decay"][sl, None], 0.0, None)
    alive = (t >= signup) & (t < lat["gone"][sl, None])
    start, length = lat["pause_start"][sl], lat["pause_len"][sl]
    paused = np.zeros(alive.shape, dtype=bool)
    for k in range(start.shape[1]):
        paused |= (t >= start[:, k, None]) & (t < start[:, k, None] + length[:, k, None])
    rate = season[None, :] / lat["gap"][sl, None] * np.exp(-3.0 * into) * np.where(paused, 0.08, 1.0)
    counts = rng.poisson(np.where(alive, rate, 0.0))
    rows = np.arange(counts.shape[0])
    counts[rows, lat["signup"][sl]] = np.maximum(counts[rows, lat["signup"][sl]], 1)  # the first purchase
    cust, day = np.nonzero(counts)
    reps = counts[cust, day]
    shrink = np.repeat(np.exp(-1.2 * into[cust, day]), reps)
    cust, day = np.repeat(cust, reps), np.repeat(day, reps)
    value = lat["basket"][sl][cust] * shrink * rng.lognormal(0.0, 0.4, len(cust))
    return cust + sl.start, day, np.maximum(np.round(value, 2), 0.99)


def simulate_purchases(n_customers: int, seed: int, cfg: RetailConfig) -> tuple[pd.DataFrame, dict]:
    """The purchase log (customer index, day offset, items, dollar value) and the latents behind it."""
    streams = np.random.SeedSequence(seed).spawn(2 + (n_customers + CHUNK - 1) // CHUNK)
    lat = _latents(n_customers, cfg, np.random.default_rng(streams[0]))
    season = _season(cfg)
    parts = [
        _chunk_purchases(lat, slice(lo, min(lo + CHUNK, n_customers)), season, np.random.default_rng(s))
        for lo, s in zip(range(0, n_customers, CHUNK), streams[2:], strict=False)
    ]
    cust = np.concatenate([p[0] for p in parts])
    day = np.concatenate([p[1] for p in parts])
    value = np.concatenate([p[2] for p in parts])
    items = 1 + np.random.default_rng(streams[1]).poisson(value / 40.0)
    log = pd.DataFrame({"customer": cust, "day": day, "items": items, "value": value})
    return log.sort_values(["day", "customer"], kind="stable", ignore_index=True), lat


def _customer_ids(n: int) -> np.ndarray:
    return np.char.zfill(np.arange(1, n + 1).astype(str), 6)


def retail_truth(n_customers: int, seed: int = 42, config: RetailConfig | None = None) -> pd.DataFrame:
    """Who churned when (for benchmarks; never in the landing files). Same latents as :func:`write_retail`.

    Columns: ``customer_id``, ``signup_date`` (first purchase), ``churn_onset`` (first day of the decline) and
    ``churned_at`` (first day from which the customer never buys again); both are ``NaT`` when they fall after
    the simulated period. Cheap: only the customers' latents are drawn, not the purchases.
    """
    cfg = config or RetailConfig()
    streams = np.random.SeedSequence(seed).spawn(2 + (n_customers + CHUNK - 1) // CHUNK)
    lat = _latents(n_customers, cfg, np.random.default_rng(streams[0]))
    start = pd.Timestamp(cfg.start)

    def as_date(offset: np.ndarray) -> pd.Series:
        days = np.where(offset < cfg.days, np.floor(offset), np.nan)
        return start + pd.to_timedelta(pd.Series(days), unit="D")

    return pd.DataFrame(
        {
            "customer_id": _customer_ids(n_customers),
            "signup_date": as_date(lat["signup"].astype(float)),
            "churn_onset": as_date(np.ceil(lat["onset"])),
            "churned_at": as_date(lat["gone"]),
        }
    )


def churn_label(truth: pd.DataFrame, cutoff: date, horizon_days: int) -> pd.Series:
    """Ground-truth label at a cutoff: True if the customer never buys again after ``cutoff + horizon_days``.

    Counts customers who had already faded out before the cutoff too (callers usually restrict to customers
    active before the cutoff). Indexed by ``customer_id``.
    """
    limit = pd.Timestamp(cutoff) + pd.Timedelta(days=horizon_days)
    label = truth["churned_at"].notna() & (truth["churned_at"] <= limit)
    return pd.Series(label.to_numpy(), index=truth["customer_id"].to_numpy(), name="churned")


def _customers_file(lat: dict[str, np.ndarray], cfg: RetailConfig, seed: int) -> pd.DataFrame:
    """The customers export: a few attributes, contact details for some customers only."""
    n = len(lat["signup"])
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    signup = pd.Timestamp(cfg.start) + pd.to_timedelta(lat["signup"], unit="D")
    ids = _customer_ids(n)
    has_email = rng.random(n) < 0.6
    has_name = has_email & (rng.random(n) < 0.8)
    names = np.char.add(np.char.add(rng.choice(FIRST_NAMES, n), " "), rng.choice(LAST_NAMES, n))
    opt_in = rng.random(n) < np.where(has_email, 0.6, 0.25)
    return pd.DataFrame(
        {
            "cust_id": ids,
            "region": REGIONS[lat["region"]],
            "age_band": AGE_BANDS[lat["age"]],
            "member_since": signup.strftime("%d/%m/%Y"),
            "email": np.where(has_email, np.char.add(np.char.add("shopper", ids), "@example.com"), ""),
            "name": np.where(has_name, names, ""),
            "opt_in": np.where(opt_in, "Y", "N"),
            "rating": pd.array(lat["rating"], dtype="Int64"),
        }
    )


def _write_purchase_files(log: pd.DataFrame, cfg: RetailConfig, folder: Path) -> list[Path]:
    """One whitespace-delimited text file per calendar year (no header, YYYYMMDD dates)."""
    folder.mkdir(parents=True, exist_ok=True)
    dates = [cfg.start + timedelta(days=int(d)) for d in range(cfg.days)]
    ymd = np.array([int(d.strftime("%Y%m%d")) for d in dates], dtype=np.int64)
    year = ymd // 10000
    days = log["day"].to_numpy()
    lines = pd.Series(np.char.mod("%06d", log["customer"].to_numpy() + 1))
    lines = lines.str.cat(
        [
            pd.Series(ymd[days].astype(str)),
            pd.Series(np.char.mod("%3d", log["items"].to_numpy())),
            pd.Series(np.char.mod("%9.2f", log["value"].to_numpy())),
        ],
        sep=" ",
    )
    paths = []
    for y in np.unique(year[days]):
        path = folder / f"purchases_{y}.txt"
        with path.open("w", encoding="ascii", newline="\n") as fh:
            fh.write("\n".join(lines[year[days] == y]) + "\n")
        paths.append(path)
    return paths


def write_retail(
    out_dir: str | Path, n_customers: int = 5000, seed: int = 42, config: RetailConfig | None = None
) -> dict[str, Any]:
    """Simulate the retailer and write its export under ``out_dir``; deterministic per ``seed``.

    Returns the paths and counts (purchase lines, same-day repeat lines, customers) and the period: ``start``,
    ``end`` (the last day in the log) and ``as_of`` (the day after, the natural cutoff for training).
    """
    cfg = config or RetailConfig()
    out = Path(out_dir)
    log, lat = simulate_purchases(n_customers, seed, cfg)
    purchase_paths = _write_purchase_files(log, cfg, out / "purchases")
    customers = _customers_file(lat, cfg, seed)
    (out / "customers").mkdir(parents=True, exist_ok=True)
    customers_path = out / "customers" / "customers.csv"
    customers.to_csv(customers_path, index=False, encoding="utf-8", lineterminator="\n")
    repeats = log.duplicated(["customer", "day"], keep=False)
    end = cfg.start + timedelta(days=cfg.days - 1)
    return {
        "company": "retail",
        "out_dir": str(out),
        "files": [str(p) for p in [*purchase_paths, customers_path]],
        "customers": n_customers,
        "purchases": len(log),
        "same_day_repeat_lines": int(repeats.sum()),
        "churned_in_period": int((lat["gone"] < cfg.days).sum()),
        "start": cfg.start.isoformat(),
        "end": end.isoformat(),
        "as_of": (end + timedelta(days=1)).isoformat(),
    }
