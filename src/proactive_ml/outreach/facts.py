"""Facts about a customer that an email may tell them: the customer-facing vocabulary, kept apart from the model's.

The model's reasons (``models/features.yaml`` ``reason:`` strings: "uses only 2 product features", "NPS 5 ...")
are staff words for the desk, the CS tasks and MLflow; they never reach a customer. An email's content blocks
(see ``blocks:`` in ``models/playbooks.yaml``) are built from the facts below only: the customer's oldest open
support request (subject, category, age, who is on it), the next feature they have not tried yet, their renewal
date and the features they use most (names, never counts), plus the account owner (the sender person) and the
customer's locale. A missing fact is ``None`` and the block that needs it is left out.

:func:`build_facts` is pure; :func:`load_facts` is the warehouse edge (data strictly before ``as_of``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd

from proactive_ml.outreach.signals import days_to_anniversary, renews
from proactive_ml.warehouse import Warehouse

RECAP_DAYS = 90  # usage recap and feature popularity window
TRIED_DAYS = 365  # a feature used within this window counts as tried (bounds the scan of usage history)
NOT_A_FEATURE = frozenset({"login"})  # events that are no feature to recommend or recap
MAX_FACT_CHARS = 120
# fewer distinct features (a purchase log: "purchase" only) and there is nothing to recap or to try next
MIN_FEATURES = 2
MAX_FEATURE_BITS = (
    62  # features counted as bits of one BIGINT per customer (feature_popularity); more: plain count
)
_RECAP_WINDOW = "ts < :t AND ts >= :since"


@dataclass(frozen=True)
class Facts:
    """What one email may say about one customer (``None``: unknown, the block that needs it is left out)."""

    ticket_subject: str | None = None
    ticket_category: str | None = None
    ticket_age_days: int | None = None
    ticket_assignee: str | None = None
    next_feature: str | None = None
    renewal_date: date | None = None
    top_features: tuple[str, ...] = ()
    owner: str | None = None
    locale: str | None = None


def clean_text(value: object) -> str | None:
    """A free-text fact on one line, trimmed and shortened; ``None`` when empty or not a text."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    text = " ".join(str(value).split())
    if not text or text.lower() in ("nan", "none", "null", "n/a"):
        return None
    return text if len(text) <= MAX_FACT_CHARS else text[: MAX_FACT_CHARS - 1].rstrip() + "…"


def _oldest_tickets(open_tickets: pd.DataFrame, ref: pd.Timestamp) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    if open_tickets.empty:
        return out
    t = open_tickets.assign(
        customer_id=open_tickets["customer_id"].astype(str),
        opened_at=pd.to_datetime(open_tickets["opened_at"]),
    )
    t = t.sort_values(["customer_id", "opened_at"]).drop_duplicates("customer_id", keep="first")
    for r in t.itertuples(index=False):
        out[str(r.customer_id)] = {
            "ticket_subject": clean_text(getattr(r, "subject", None)),
            "ticket_category": clean_text(getattr(r, "category", None)),
            "ticket_age_days": max(int((ref - r.opened_at).total_seconds() // 86400), 0),
            "ticket_assignee": clean_text(getattr(r, "assignee", None)),
        }
    return out


def _feature_facts(usage: pd.DataFrame, popularity: list[str]) -> dict[str, dict[str, object]]:
    """Per customer: top features used in the window (by count) and the most popular one never used."""
    if usage.empty:
        return {}
    u = usage.assign(customer_id=usage["customer_id"].astype(str), feature=usage["feature"].astype(str))
    out: dict[str, dict[str, object]] = {}
    for cid, g in u.groupby("customer_id", sort=False):
        used = set(g["feature"])
        recent = g[g["n_recent"] > 0].sort_values(["n_recent", "feature"], ascending=[False, True])
        top = tuple(f for f in recent["feature"] if f not in NOT_A_FEATURE)[:3]
        nxt = next((f for f in popularity if f not in used), None)
        out[str(cid)] = {"top_features": top, "next_feature": nxt}
    return out


def build_facts(
    customers: pd.DataFrame,
    open_tickets: pd.DataFrame,
    usage: pd.DataFrame,
    popularity: list[str],
    as_of: datetime,
) -> dict[str, Facts]:
    """Facts per customer id.

    Args:
        customers: customer_id, signup_date, cancelled_at, and optionally owner, locale, plan and monthly_revenue
            (no renewal date for a customer with neither: see :func:`~.signals.renews`).
        open_tickets: customer_id, opened_at, category, and optionally subject, assignee (open at as_of).
        usage: customer_id, feature, n_recent (uses in the last RECAP_DAYS), one row per feature used in the last
            TRIED_DAYS.
        popularity: product features, most used across all customers first (candidates for the next step).
        as_of: The decision or send time.
    """
    ref = pd.Timestamp(as_of)
    ids = customers["customer_id"].astype(str)
    renew = days_to_anniversary(customers["signup_date"], ref.date()).where(renews(customers))
    cancelled = pd.to_datetime(customers.get("cancelled_at"), errors="coerce")
    tickets = _oldest_tickets(open_tickets, ref)
    product = [f for f in popularity if f not in NOT_A_FEATURE]
    # one kind of event (a shop's purchases) is no product to recap or to suggest a next step in
    features = _feature_facts(usage, product) if len(product) >= MIN_FEATURES else {}
    out: dict[str, Facts] = {}
    for i, cid in enumerate(ids):
        days = renew.iloc[i]
        ok = pd.notna(days) and (cancelled is None or pd.isna(cancelled.iloc[i]))
        out[cid] = Facts(
            **tickets.get(cid, {}),  # type: ignore[arg-type]
            **features.get(cid, {}),  # type: ignore[arg-type]
            renewal_date=ref.date() + timedelta(days=int(days)) if ok else None,
            owner=clean_text(customers["owner"].iloc[i]) if "owner" in customers else None,
            locale=clean_text(customers["locale"].iloc[i]) if "locale" in customers else None,
        )
    return out


def feature_popularity(wh: Warehouse, as_of: datetime) -> list[str]:
    """Features by the number of customers who used them in the last RECAP_DAYS, most used first (ties by name).

    Counting distinct customers per feature hashes every (feature, customer) pair of the window (tens of millions
    of rows). Instead each customer's features are gathered as bits of one integer (one group per customer), and
    each feature's customers are the groups with its bit set: the same counts at a fraction of the cost. With more
    features than bits, or a feature without a name, the plain count (:func:`_popularity_by_distinct`).
    """
    p = {"t": as_of, "since": as_of - timedelta(days=RECAP_DAYS)}
    bits = _feature_bits(wh, p)
    if bits is None:
        return _popularity_by_distinct(wh, as_of)
    features, bit, row_bit = bits
    if not features:
        return []
    counts = ", ".join(f"sum((b >> {k}) & 1) AS n{i}" for i, k in enumerate(bit))
    named = {f"f{i}": f for i, f in enumerate(features)}
    row = wh.query(
        f"""SELECT {counts} FROM (SELECT bit_or({row_bit}) AS b FROM usage_events
                WHERE {_RECAP_WINDOW} AND customer_id IS NOT NULL GROUP BY customer_id) per""",
        {**p, **(named if ":f0" in row_bit else {})},  # the names when the CASE compares them
    )
    n = {f"n{i}": int(row[f"n{i}"].iloc[0] or 0) for i in range(len(features))}
    values = ", ".join(f"(:f{i}, :n{i})" for i in range(len(features)))
    ordered = wh.query(  # the order by the database's own collation, as the plain count's ORDER BY
        f"SELECT feature FROM (VALUES {values}) AS v(feature, n) ORDER BY n DESC, feature", {**named, **n}
    )
    return [str(f) for f in ordered["feature"]]


def _feature_bits(
    wh: Warehouse, p: dict[str, datetime], *, hashed: bool | None = None
) -> tuple[list[str], list[int], str] | None:
    """The window's features, the bit of each, and the SQL of a usage row's bit (``None``: bits do not fit).

    On DuckDB a feature's bit is its ``hash`` modulo the first number that gives every feature its own bit (a
    hash per row is cheaper than comparing the name with every feature); otherwise, and when no modulus fits, bit
    ``i`` for the ``i``-th feature, by a ``CASE`` over the names (given as parameters ``:f0``, ``:f1`` ...).
    ``hashed`` chooses (default: by hash on DuckDB).
    """
    by_hash = wh.backend == "duckdb" if hashed is None else hashed
    hash_column = ", hash(feature) AS h" if by_hash else ""
    names = wh.query(
        f"SELECT feature{hash_column} FROM (SELECT DISTINCT feature FROM usage_events WHERE {_RECAP_WINDOW}) f",
        p,
    )
    if len(names) > MAX_FEATURE_BITS or names["feature"].isna().any():
        return None
    features = [str(f) for f in names["feature"]]
    if by_hash:
        hashes = [int(h) for h in names["h"]]
        for modulus in range(len(features), MAX_FEATURE_BITS + 1):
            bit = [h % modulus for h in hashes]
            if len(set(bit)) == len(bit):
                return features, bit, f"CAST(1 AS BIGINT) << CAST(hash(feature) % {modulus} AS INTEGER)"
    case = " ".join(f"WHEN :f{i} THEN CAST({1 << i} AS BIGINT)" for i in range(len(features)))
    return features, list(range(len(features))), f"CASE feature {case} END"


def _popularity_by_distinct(wh: Warehouse, as_of: datetime) -> list[str]:
    """:func:`feature_popularity` by counting distinct customers per feature (any number of features)."""
    df = wh.query(
        f"""SELECT feature, count(DISTINCT customer_id) AS n FROM usage_events WHERE {_RECAP_WINDOW}
           GROUP BY feature ORDER BY n DESC, feature""",
        {"t": as_of, "since": as_of - timedelta(days=RECAP_DAYS)},
    )
    return [str(f) for f in df["feature"]]


def load_facts(
    wh: Warehouse, customer_ids: list[str], as_of: datetime, popularity: list[str] | None = None
) -> dict[str, Facts]:
    """Facts of ``customer_ids`` as of ``as_of``, read from the warehouse (see :func:`build_facts`)."""
    if not customer_ids:
        return {}
    ids = pd.DataFrame({"customer_id": sorted({str(c) for c in customer_ids})})
    p = {"t": as_of, "since": as_of - timedelta(days=RECAP_DAYS)}
    with wh.staged(ids, "facts_ids") as s:
        customers = wh.query(
            f"""SELECT c.customer_id, c.signup_date, c.cancelled_at, c.owner, c.locale, c.plan, c.monthly_revenue
                FROM customers c
                JOIN {s} s ON s.customer_id = c.customer_id""",
        )
        tickets = wh.query(
            f"""SELECT t.customer_id, t.opened_at, t.category, t.subject, t.assignee FROM tickets t
                JOIN {s} s ON s.customer_id = t.customer_id
                WHERE t.opened_at < :t AND ((t.closed_at IS NULL AND t.status IN ('open', 'pending'))
                                            OR t.closed_at >= :t)""",
            {"t": as_of},
        )
        usage = wh.query(
            f"""SELECT u.customer_id, u.feature, sum(CASE WHEN u.ts >= :since THEN 1 ELSE 0 END) AS n_recent
                FROM usage_events u JOIN {s} s ON s.customer_id = u.customer_id
                WHERE u.ts < :t AND u.ts >= :tried GROUP BY u.customer_id, u.feature""",
            {**p, "tried": as_of - timedelta(days=TRIED_DAYS)},
        )
    customers = customers.drop_duplicates("customer_id", keep="last")
    pop = popularity if popularity is not None else feature_popularity(wh, as_of)
    return build_facts(customers, tickets, usage, pop, as_of)


class DayFacts:
    """The facts of one send run, read once for every customer due rather than once per claimed batch.

    Each read scans the usage history (a year of events), so reading per batch multiplied that scan by the number
    of batches. The first call reads the facts of every customer with a planned row due at ``as_of`` (and of the
    ids asked for); an id not read yet (a row planned meanwhile) is read when asked for. Facts depend on the
    customer and ``as_of`` only, so they are the same whichever batch reads them. Safe for the sender threads.
    """

    def __init__(self, wh: Warehouse, as_of: datetime) -> None:
        self.wh, self.as_of = wh, as_of
        self.known: dict[str, Facts] = {}
        self.read: set[str] = set()
        self.popularity: list[str] | None = None
        self.lock = threading.Lock()

    def of(self, customer_ids: list[str]) -> dict[str, Facts]:
        """Facts per customer id (ids without a customer row are left out, as :func:`load_facts` does)."""
        with self.lock:
            missing = {str(c) for c in customer_ids} - self.read
            if missing:
                if self.popularity is None:
                    self.popularity = feature_popularity(self.wh, self.as_of)
                    missing |= set(_due_customers(self.wh, self.as_of))
                self.known.update(load_facts(self.wh, sorted(missing), self.as_of, self.popularity))
                self.read |= missing
            return {str(c): self.known[str(c)] for c in customer_ids if str(c) in self.known}


def _due_customers(wh: Warehouse, as_of: datetime) -> list[str]:
    """Customers with a planned ledger row due at ``as_of`` (the rows a send run claims)."""
    due = wh.query(
        "SELECT DISTINCT customer_id FROM send_ledger WHERE state = 'planned' AND (send_at IS NULL OR send_at <= :t)",
        {"t": as_of},
    )
    return [str(c) for c in due["customer_id"]]
