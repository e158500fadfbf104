"""A simulated CRM snapshot export: one row per customer with attributes and a churn flag, no time axis.

File written (the way a European CRM exports it, not the contract): ``crm_export_<YYYYMMDD>.csv``,
semicolon-delimited, **latin-1** encoded (names such as ``Müller`` or ``François``), a header row, dates as
``DD.MM.YYYY``, decimal commas (``49,90``), ``Yes``/``No`` flags and blanks for unknown values:

``CustomerNo; Name; Email; Country; Segment; Contract; PaymentMethod; CustomerSince; TenureMonths; MonthlyFee;
DiscountPct; SupportCalls12m; Satisfaction; DataUsageGB; OptIn; Churned``

``Churned`` (``Yes``/``No``) follows a hidden logistic model of contract, tenure, fee, support calls, satisfaction,
payment method and segment, so a model on the attributes can learn it (about a quarter churn).
:func:`snapshot_frame` returns the rows as typed values together with the hidden churn probability.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FIRST = np.array(
    ["Jürgen", "Sören", "José", "François", "Zoë", "Björn", "Renée", "Åsa", "Noël", "Anna", "Peter", "Inès"]
)
LAST = np.array(["Müller", "Schäfer", "Ødegaard", "Gonçalves", "Lefèvre", "Weiß", "Núñez", "Berg", "Keller"])
COUNTRIES = np.array(["DE", "AT", "CH", "FR", "DK", "SE", "ES"])
CONTRACTS = np.array(["Monthly", "12 months", "24 months"])
CONTRACT_EFFECT = np.array([1.3, 0.0, -1.1])
PAYMENTS = np.array(["Direct debit", "Invoice", "Credit card"])
PAYMENT_EFFECT = np.array([-0.2, 0.45, 0.0])
SEGMENTS = np.array(["Private", "Business"])
COLUMNS = (
    "CustomerNo",
    "Name",
    "Email",
    "Country",
    "Segment",
    "Contract",
    "PaymentMethod",
    "CustomerSince",
    "TenureMonths",
    "MonthlyFee",
    "DiscountPct",
    "SupportCalls12m",
    "Satisfaction",
    "DataUsageGB",
    "OptIn",
    "Churned",
)


def _attributes(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The customers' attributes (typed) and the hidden satisfaction."""
    contract = rng.choice(3, n, p=(0.5, 0.28, 0.22))
    tenure = np.minimum(rng.geometric(1.0 / (12.0 + 14.0 * contract)), 120)
    segment = rng.choice(2, n, p=(0.8, 0.2))
    fee = np.round(rng.uniform(19.0, 79.0, n) + 40.0 * segment, 2)
    sat_latent = rng.normal(0.0, 1.0, n)
    calls = rng.poisson(np.exp(0.2 - 0.5 * sat_latent))
    satisfaction = np.clip(np.round(7.0 + 1.6 * sat_latent + rng.normal(0.0, 0.8, n), 1), 0.0, 10.0)
    return {
        "contract": contract,
        "tenure": tenure,
        "segment": segment,
        "fee": fee,
        "payment": rng.choice(3, n, p=(0.5, 0.3, 0.2)),
        "country": rng.choice(len(COUNTRIES), n),
        "sat_latent": sat_latent,
        "calls": calls,
        "satisfaction": np.where(rng.random(n) < 0.2, np.nan, satisfaction),
        "discount": np.where(rng.random(n) < 0.7, np.nan, np.round(rng.uniform(2.0, 25.0, n), 1)),
        "usage": np.round(rng.lognormal(1.5, 0.9, n), 2),
    }


def _churn_probability(a: dict[str, np.ndarray]) -> np.ndarray:
    """The hidden model behind the ``Churned`` flag."""
    logit = (
        -1.55
        + CONTRACT_EFFECT[a["contract"]]
        - 0.9 * np.log1p(a["tenure"] / 6.0)
        + 0.02 * (a["fee"] - 50.0)
        + 0.3 * a["calls"]
        - 0.7 * a["sat_latent"]
        + PAYMENT_EFFECT[a["payment"]]
        - 0.4 * a["segment"]
        - 0.15 * np.log1p(a["usage"])
    )
    return 1.0 / (1.0 + np.exp(-logit))


def snapshot_frame(n_customers: int = 5000, seed: int = 42, as_of: date = date(2026, 6, 30)) -> pd.DataFrame:
    """The export's rows as typed values (NaN = blank) plus ``churn_probability`` (hidden; not written).

    Deterministic per ``seed``. ``CustomerSince`` is ``as_of`` minus the tenure in months (a Timestamp).
    """
    rng = np.random.default_rng(seed)
    n = n_customers
    a = _attributes(n, rng)
    prob = _churn_probability(a)
    churned = rng.random(n) < prob
    since = pd.Timestamp(as_of) - pd.to_timedelta(a["tenure"] * 30.44 + rng.integers(0, 28, n), unit="D")
    ids = np.char.add("K-", np.char.zfill(np.arange(1, n + 1).astype(str), 6))
    names = np.char.add(np.char.add(rng.choice(FIRST, n), " "), rng.choice(LAST, n))
    has_email = rng.random(n) < 0.7
    email = np.char.add(np.char.add("kunde", np.char.lstrip(np.char.lstrip(ids, "K"), "-")), "@example.com")
    return pd.DataFrame(
        {
            "CustomerNo": ids,
            "Name": names,
            "Email": np.where(has_email, email, ""),
            "Country": COUNTRIES[a["country"]],
            "Segment": SEGMENTS[a["segment"]],
            "Contract": CONTRACTS[a["contract"]],
            "PaymentMethod": PAYMENTS[a["payment"]],
            "CustomerSince": since.normalize(),
            "TenureMonths": a["tenure"],
            "MonthlyFee": a["fee"],
            "DiscountPct": a["discount"],
            "SupportCalls12m": a["calls"],
            "Satisfaction": a["satisfaction"],
            "DataUsageGB": a["usage"],
            "OptIn": np.where(rng.random(n) < 0.55, "Yes", "No"),
            "Churned": np.where(churned, "Yes", "No"),
            "churn_probability": prob,
        }
    )


def _decimal_comma(values: pd.Series, fmt: str) -> pd.Series:
    """Numbers as text with a decimal comma; NaN becomes blank."""
    text = pd.Series(np.char.mod(fmt, values.fillna(0).to_numpy()), index=values.index)
    return text.str.replace(".", ",", regex=False).where(values.notna(), "")


def write_snapshot(
    out_dir: str | Path, n_customers: int = 5000, seed: int = 42, as_of: date = date(2026, 6, 30)
) -> dict[str, Any]:
    """Write the CRM export ``crm_export_<YYYYMMDD>.csv`` under ``out_dir``; deterministic per ``seed``.

    Returns the path, the number of rows and of churned customers, and the snapshot date.
    """
    frame = snapshot_frame(n_customers, seed, as_of)
    text = frame.loc[:, list(COLUMNS)].copy()
    text["CustomerSince"] = frame["CustomerSince"].dt.strftime("%d.%m.%Y")
    text["MonthlyFee"] = _decimal_comma(frame["MonthlyFee"], "%.2f")
    text["DiscountPct"] = _decimal_comma(frame["DiscountPct"], "%.1f")
    text["Satisfaction"] = _decimal_comma(frame["Satisfaction"], "%.1f")
    text["DataUsageGB"] = _decimal_comma(frame["DataUsageGB"], "%.2f")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"crm_export_{as_of.strftime('%Y%m%d')}.csv"
    text.to_csv(path, sep=";", index=False, encoding="latin-1", lineterminator="\r\n")
    return {
        "company": "snapshot",
        "out_dir": str(out),
        "files": [str(path)],
        "customers": n_customers,
        "churned": int((frame["Churned"] == "Yes").sum()),
        "as_of": as_of.isoformat(),
    }
