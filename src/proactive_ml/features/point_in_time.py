"""Point-in-time features: what we knew about each active customer strictly before a cutoff.

The feature list is declared once in ``models/features.yaml`` (name, group, kind, description, reason text).
:func:`build_features` computes it with one aggregate query per source table in the warehouse (the same SQL runs on
DuckDB and PostgreSQL) plus a few vectorised pandas steps for ratios and day differences.

Point-in-time rules (what the leakage test checks):
- every event table is filtered on its time column ``< cutoff`` (usage ``ts``, feedback ``ts``, tickets
  ``opened_at``, decisions ``as_of``);
- a ticket is *open* at the cutoff if ``closed_at`` is empty or ``>= cutoff`` (the current ``status`` column is
  never read: it describes today, not the cutoff);
- a customer is *active* at the cutoff if ``signup_date < cutoff`` and (``cancelled_at`` is empty or
  ``>= cutoff``).
Known limit: ``plan`` and ``monthly_revenue`` are the customer's current values (the contract keeps no history).

Beyond the declared list, the frame carries (automatically, when the data has them):
- every customer attribute declared in the source mapping (``customer_attributes``; numeric -> float64,
  categorical -> object; current values, like ``plan``), named ``attr_<name>`` if a declared feature has its name;
- spend features from usage ``value`` (``spend_30d``, ``spend_90d``, ``spend_trend_30d``) when any value is present.
Optional datasets (feedback, tickets, usage events) that are absent leave their features empty / zero.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from proactive_ml.contract import FEATURES
from proactive_ml.features.outcomes import DETRACTOR_SQL
from proactive_ml.ingest.sources import customer_attributes
from proactive_ml.settings import PROJECT_ROOT

FEATURES_YAML = PROJECT_ROOT / "models" / "features.yaml"
NO_TICKET = "none"


@dataclass(frozen=True)
class FeatureSpec:
    """One declared feature."""

    name: str
    group: str
    kind: str  # numeric | categorical
    description: str
    reason: str
    when: tuple[Any, ...] | None = None
    direction: str | None = None  # low | high: the reason describes a value below / above the typical one


@lru_cache(maxsize=4)
def load_feature_specs(path: str | Path = FEATURES_YAML) -> tuple[FeatureSpec, ...]:
    """The declared features of ``models/features.yaml`` in their declared order."""
    raw = yaml.safe_load(Path(path).read_text())
    specs = []
    for f in raw["features"]:
        when = tuple(f["when"]) if f.get("when") else None
        specs.append(
            FeatureSpec(
                f["name"], f["group"], f["kind"], f["description"], f["reason"], when, f.get("direction")
            )
        )
    return tuple(specs)


def feature_names() -> list[str]:
    """All feature column names, in declared order."""
    return [s.name for s in load_feature_specs()]


def categorical_features() -> list[str]:
    """The categorical feature columns."""
    return [s.name for s in load_feature_specs() if s.kind == "categorical"]


def numeric_features() -> list[str]:
    """The numeric feature columns."""
    return [s.name for s in load_feature_specs() if s.kind == "numeric"]


def as_timestamp(d: date | datetime) -> datetime:
    """Midnight of a date (or the datetime itself): cutoffs are compared to naive-UTC timestamps."""
    if isinstance(d, datetime):
        return d
    return datetime.combine(d, time.min)


def window_params(cutoff: date | datetime) -> dict[str, Any]:
    """SQL parameters: the cutoff and the start of each look-back window (all as naive timestamps)."""
    c = as_timestamp(cutoff)
    p: dict[str, Any] = {"cutoff_ts": c, "cutoff_date": c.date()}
    for days in (7, 14, 30, 60, 90):
        p[f"c{days}"] = c - timedelta(days=days)
    p["c90_date"] = (c - timedelta(days=90)).date()
    return p


ACTIVE_SQL = """
SELECT customer_id, plan, signup_date, CAST(monthly_revenue AS DOUBLE PRECISION) AS monthly_revenue
FROM customers
WHERE (signup_date IS NULL OR signup_date < :cutoff_date) AND (cancelled_at IS NULL OR cancelled_at >= :cutoff_ts)
"""

# Usage in one scan with cheap aggregates only (COUNT DISTINCT per customer is the slow part at 50M rows): the
# days with activity become bits of two BIGINT masks (day k before the cutoff, k = 1..90: k <= 62 in days_lo, the
# other 28 days in the lowest bits of days_hi), the features used in the last 30 days the bits above them in days_hi
# (one bit per contract feature, one more for any other); pandas counts the bits. k is the whole-day distance from
# the event's date. Every aggregate state costs time for each of the 50M rows, hence two masks rather than three.
_HI_DAYS = 28  # days 63..90 take the lowest bits of days_hi
_OTHER_FEATURE = len(FEATURES)  # the bit shared by every feature outside the contract's list
# the feature's place in the contract's list (0-based), else _OTHER_FEATURE: one list lookup per row instead of
# a CASE of ten text comparisons (array_position is 1-based and NULL when absent, on DuckDB and PostgreSQL alike)
_FEATURE_BIT = (
    "COALESCE(array_position(ARRAY["
    + ", ".join(f"'{f}'" for f in FEATURES)
    + f"], feature) - 1, {_OTHER_FEATURE})"
)
USAGE_SQL = f"""
SELECT customer_id,
  CAST(SUM(CASE WHEN ts >= :c7 THEN quantity ELSE 0 END) AS DOUBLE PRECISION) AS usage_7d,
  CAST(SUM(CASE WHEN ts >= :c14 AND ts < :c7 THEN quantity ELSE 0 END) AS DOUBLE PRECISION) AS usage_prev_7d,
  CAST(SUM(CASE WHEN ts >= :c30 THEN quantity ELSE 0 END) AS DOUBLE PRECISION) AS usage_30d,
  CAST(SUM(CASE WHEN ts >= :c60 AND ts < :c30 THEN quantity ELSE 0 END) AS DOUBLE PRECISION) AS usage_prev_30d,
  CAST(SUM(CASE WHEN ts >= :c90 THEN quantity ELSE 0 END) AS DOUBLE PRECISION) AS usage_90d,
  BIT_OR(CASE WHEN k <= 62 THEN CAST(1 AS BIGINT) << (k - 1) ELSE CAST(0 AS BIGINT) END) AS days_lo,
  BIT_OR((CASE WHEN k > 62 AND k <= 90 THEN CAST(1 AS BIGINT) << (k - 63) ELSE CAST(0 AS BIGINT) END)
    | (CASE WHEN ts >= :c30 THEN CAST(1 AS BIGINT) << ({_HI_DAYS} + {_FEATURE_BIT}) ELSE CAST(0 AS BIGINT) END))
    AS days_hi,
  MAX(ts) AS last_activity_ts
FROM (
  SELECT customer_id, ts, quantity, feature, CAST(:cutoff_date AS DATE) - CAST(ts AS DATE) AS k
  FROM usage_events
  WHERE ts < :cutoff_ts
) u
GROUP BY customer_id
"""


def _popcount(masks: pd.Series, keep_bits: int = 63, skip_bits: int = 0) -> pd.Series:
    """Number of set bits of each mask's bits ``skip_bits`` .. ``skip_bits + keep_bits - 1`` (0 where missing)."""
    m = pd.to_numeric(masks, errors="coerce").fillna(0).astype("int64").to_numpy()
    m = (m >> np.int64(skip_bits)) & np.int64((1 << keep_bits) - 1)
    return pd.Series(np.bitwise_count(m).astype("float64"), index=masks.index)


FEEDBACK_SQL = f"""
WITH fb AS (
  SELECT customer_id, survey_type, score, ts, comment,
         ROW_NUMBER() OVER (PARTITION BY customer_id, survey_type ORDER BY ts DESC, feedback_id DESC) AS rn
  FROM feedback
  WHERE ts < :cutoff_ts
)
SELECT customer_id,
  CAST(MAX(CASE WHEN survey_type = 'NPS' AND rn = 1 THEN score END) AS DOUBLE PRECISION) AS last_nps,
  CAST(MAX(CASE WHEN survey_type = 'NPS' AND rn = 2 THEN score END) AS DOUBLE PRECISION) AS prev_nps,
  MAX(CASE WHEN survey_type = 'NPS' AND rn = 1 THEN ts END) AS last_nps_ts,
  CAST(MAX(CASE WHEN survey_type = 'CSAT' AND rn = 1 THEN score END) AS DOUBLE PRECISION) AS last_csat,
  MAX(CASE WHEN survey_type = 'CSAT' AND rn = 1 THEN ts END) AS last_csat_ts,
  CAST(SUM(CASE WHEN ts >= :c90 AND comment IS NOT NULL AND comment <> ''
                 AND {DETRACTOR_SQL}
            THEN 1 ELSE 0 END) AS DOUBLE PRECISION) AS negative_comments_90d,
  CAST(SUM(CASE WHEN ts >= :c90 THEN 1 ELSE 0 END) AS DOUBLE PRECISION) AS feedback_90d
FROM fb
GROUP BY customer_id
"""

TICKETS_SQL = """
WITH tk AS (
  SELECT customer_id, opened_at, closed_at, priority,
         ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY opened_at DESC, ticket_id DESC) AS rn
  FROM tickets
  WHERE opened_at < :cutoff_ts
)
SELECT customer_id,
  CAST(SUM(CASE WHEN closed_at IS NULL OR closed_at >= :cutoff_ts THEN 1 ELSE 0 END) AS DOUBLE PRECISION)
    AS tickets_open,
  CAST(SUM(CASE WHEN (closed_at IS NULL OR closed_at >= :cutoff_ts) AND opened_at < :c7 THEN 1 ELSE 0 END)
    AS DOUBLE PRECISION) AS tickets_unresolved_7d,
  CAST(SUM(CASE WHEN opened_at >= :c30 THEN 1 ELSE 0 END) AS DOUBLE PRECISION) AS tickets_30d,
  MAX(CASE WHEN rn = 1 THEN priority END) AS last_ticket_priority
FROM tk
GROUP BY customer_id
"""

_JOINS = {
    "usage_events": (
        USAGE_SQL,
        "u",
        "u.usage_7d, u.usage_prev_7d, u.usage_30d, u.usage_prev_30d, u.usage_90d, u.days_lo, u.days_hi, "
        "u.last_activity_ts",
    ),
    "feedback": (
        FEEDBACK_SQL,
        "f",
        "f.last_nps, f.prev_nps, f.last_nps_ts, f.last_csat, f.last_csat_ts, f.negative_comments_90d, f.feedback_90d",
    ),
    "tickets": (
        TICKETS_SQL,
        "t",
        "t.tickets_open, t.tickets_unresolved_7d, t.tickets_30d, t.last_ticket_priority",
    ),
}


def features_sql(tables: tuple[str, ...] = tuple(_JOINS)) -> str:
    """The one feature query, joining only the event ``tables`` that exist (the others' columns come out empty)."""
    cols = ["a.customer_id, a.plan, a.signup_date, a.monthly_revenue"]
    joins = []
    for table, (sql, alias, columns) in _JOINS.items():
        if table in tables:
            cols.append(columns)
            joins.append(f"LEFT JOIN ({sql}) {alias} ON {alias}.customer_id = a.customer_id")
    return (
        f"SELECT {', '.join(cols)}\nFROM ({ACTIVE_SQL}) a\n" + "\n".join(joins) + "\nORDER BY a.customer_id"
    )


FEATURES_SQL = features_sql()
# every column the event joins contribute (filled with NaN when their table is absent)
_EVENT_COLUMNS = tuple(c.strip().split(".")[1] for _, _, cols in _JOINS.values() for c in cols.split(","))

SPEND_SQL = """
SELECT customer_id,
  CAST(SUM(CASE WHEN ts >= :c30 THEN value ELSE 0 END) AS DOUBLE PRECISION) AS spend_30d,
  CAST(SUM(CASE WHEN ts >= :c60 AND ts < :c30 THEN value ELSE 0 END) AS DOUBLE PRECISION) AS spend_prev_30d,
  CAST(SUM(CASE WHEN ts >= :c90 THEN value ELSE 0 END) AS DOUBLE PRECISION) AS spend_90d
FROM usage_events
WHERE ts < :cutoff_ts AND ts >= :c90 AND value IS NOT NULL
GROUP BY customer_id
"""
SPEND_FEATURES = ("spend_30d", "spend_90d", "spend_trend_30d")


OUTREACH_SQL = """
SELECT customer_id,
  CAST(SUM(CASE WHEN as_of >= :c90_date THEN 1 ELSE 0 END) AS DOUBLE PRECISION) AS emails_90d,
  MAX(as_of) AS last_email_date
FROM decisions
WHERE as_of < :cutoff_date AND arm = 'treatment' AND action = 'email'
GROUP BY customer_id
"""


def used_params(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """Only the parameters that ``sql`` names (DuckDB refuses extra ones)."""
    return {k: v for k, v in params.items() if re.search(rf":{k}\b", sql)}


def run_query(wh: Any, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    """Run ``sql`` with the subset of ``params`` it uses."""
    return wh.query(sql, used_params(sql, params))


def _days_before(cutoff: datetime, ts: pd.Series) -> pd.Series:
    """Days (fractional) from each timestamp to the cutoff; NaN where the timestamp is missing."""
    t = pd.to_datetime(ts)
    return (pd.Timestamp(cutoff) - t).dt.total_seconds() / 86400.0


def _relative_change(now: pd.Series, before: pd.Series) -> pd.Series:
    """(now - before) / before, 0 when both are 0, capped to [-1, 5] (1 = doubled)."""
    out = (now - before) / before.where(before > 0, 1.0)
    return out.clip(-1.0, 5.0)


# counts that are 0 (not missing) when the customer has no rows in the window
_ZERO_WHEN_MISSING = (
    "usage_7d",
    "usage_prev_7d",
    "usage_30d",
    "usage_prev_30d",
    "usage_90d",
    "negative_comments_90d",
    "feedback_90d",
    "tickets_open",
    "tickets_unresolved_7d",
    "tickets_30d",
)
# aggregates that are features as they come out of the query
_AS_AGGREGATED = (
    "usage_7d",
    "usage_30d",
    "usage_90d",
    "active_days_7d",
    "active_days_30d",
    "active_days_90d",
)
_COUNTS = ("negative_comments_90d", "feedback_90d", "tickets_open", "tickets_unresolved_7d", "tickets_30d")


def _complete_aggregates(df: pd.DataFrame) -> None:
    """Active days and breadth from the query's day and feature bit masks; missing counts become 0."""
    df["active_days_7d"] = _popcount(df["days_lo"], 7)
    df["active_days_30d"] = _popcount(df["days_lo"], 30)
    df["active_days_90d"] = _popcount(df["days_lo"], 62) + _popcount(df["days_hi"], _HI_DAYS)
    df["breadth_30d"] = _popcount(df["days_hi"], _OTHER_FEATURE + 1, skip_bits=_HI_DAYS)
    for col in _ZERO_WHEN_MISSING:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64").fillna(0.0)


def _customer_features(df: pd.DataFrame, c: datetime) -> pd.DataFrame:
    """Usage, survey, ticket and account features from the completed aggregates (``c``: the cutoff)."""
    tenure = _days_before(c, df["signup_date"])
    out = pd.DataFrame(index=df.index)
    for col in _AS_AGGREGATED:
        out[col] = df[col]
    out["usage_change_7d"] = _relative_change(df["usage_7d"], df["usage_prev_7d"])
    out["usage_change_30d"] = _relative_change(df["usage_30d"], df["usage_prev_30d"])
    out["days_since_last_activity"] = _days_before(c, df["last_activity_ts"]).fillna(tenure).round(3)
    out["breadth_30d"] = df["breadth_30d"]
    out["last_nps"] = df["last_nps"].astype("float64")
    out["nps_trend"] = (df["last_nps"] - df["prev_nps"]).astype("float64")
    out["days_since_last_nps"] = _days_before(c, df["last_nps_ts"]).round(3)
    out["last_csat"] = df["last_csat"].astype("float64")
    for col in _COUNTS:
        out[col] = df[col]
    out["last_ticket_priority"] = (
        df["last_ticket_priority"].astype(object).where(df["last_ticket_priority"].notna(), NO_TICKET)
    )
    out["tenure_days"] = tenure.round(3)
    out["plan"] = df["plan"].astype(object)
    out["monthly_revenue"] = df["monthly_revenue"].astype("float64")
    return out


def _has_values(wh: Any) -> bool:
    """True when usage events carry a monetary ``value`` somewhere."""
    return wh.scalar("SELECT 1 FROM usage_events WHERE value IS NOT NULL LIMIT 1") is not None


def spend_features(wh: Any, params: dict[str, Any], index: pd.Index) -> pd.DataFrame:
    """Trailing 30/90-day spend and the 30-day spend trend from usage ``value`` (0 without purchases)."""
    sp = run_query(wh, SPEND_SQL, params).set_index("customer_id").reindex(index)
    sp = sp.apply(pd.to_numeric, errors="coerce").astype("float64").fillna(0.0)
    return pd.DataFrame(
        {
            "spend_30d": sp["spend_30d"],
            "spend_90d": sp["spend_90d"],
            "spend_trend_30d": _relative_change(sp["spend_30d"], sp["spend_prev_30d"]),
        },
        index=index,
    )


def attribute_features(wh: Any, index: pd.Index, taken: set[str]) -> pd.DataFrame:
    """The declared customer attributes of ``index`` (``attr_<name>`` when a feature already has the name).

    Numeric as float64, categorical as object with missing values as ``"missing"``.
    """
    attrs = customer_attributes(wh)
    if attrs.shape[1] == 0:
        return pd.DataFrame(index=index)
    attrs.index = attrs.index.astype(str)
    out = attrs.reindex(index.astype(str))
    out.index = index
    kinds = attrs.attrs.get("kinds", {})
    for c in out.columns:
        if kinds.get(c) != "numeric":
            out[c] = out[c].astype(object).where(out[c].notna(), "missing")
    return out.rename(columns={c: f"attr_{c}" for c in out.columns if c in taken})


def attribute_reasons(wh: Any, columns: Iterable[str]) -> dict[str, str]:
    """The mapping's reason text (with ``{value}``) of each declared attribute among the feature ``columns``.

    Keyed by feature column: ``attr_<name>`` where :func:`attribute_features` renamed the attribute, else its name.
    An attribute declared without a reason text is left out (its reason then reads "name: value").
    """
    defs = wh.query("SELECT name, reason FROM customer_attribute_defs")
    cols, out = set(columns), {}
    for name, reason in zip(defs["name"], defs["reason"], strict=True):
        col = f"attr_{name}" if f"attr_{name}" in cols else name
        if col in cols and isinstance(reason, str) and reason:
            out[col] = reason
    return out


def feature_kinds(X: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(numeric, categorical) feature columns of a frame: declared kinds, else by dtype (object = categorical)."""
    declared = {s.name: s.kind for s in load_feature_specs()}
    numeric: list[str] = []
    categorical: list[str] = []
    for c in X.columns:
        kind = declared.get(c) or ("categorical" if X[c].dtype == object else "numeric")
        (categorical if kind == "categorical" else numeric).append(c)
    return numeric, categorical


def _event_frame(wh: Any, params: dict[str, Any]) -> pd.DataFrame:
    """The feature query over the event tables (every table exists after migrate; empty ones give NaN)."""
    df = run_query(wh, features_sql(tuple(_JOINS)), params).set_index("customer_id")
    # plain object ids from the start: every later alignment on an Arrow-backed index would convert it again
    df.index = df.index.astype(object)
    for col in _EVENT_COLUMNS:
        if col not in df.columns:
            df[col] = np.nan
    return df


def build_features(wh: Any, cutoff: date | datetime) -> pd.DataFrame:
    """Features of every active customer as of ``cutoff``, from data strictly before it, indexed by customer_id.

    Columns: the features of ``models/features.yaml`` (numeric as float64, categorical as object), then spend
    features (when usage carries values) and the declared customer attributes (when the mapping declares some).
    """
    params = window_params(cutoff)
    c = params["cutoff_ts"]
    df = _event_frame(wh, params)
    _complete_aggregates(df)
    out = _customer_features(df, c)
    out["emails_90d"] = 0.0
    out["days_since_last_email"] = np.nan
    em = run_query(wh, OUTREACH_SQL, params).set_index("customer_id")
    em = em.reindex(out.index)
    out["emails_90d"] = pd.to_numeric(em["emails_90d"], errors="coerce").astype("float64").fillna(0.0)
    out["days_since_last_email"] = _days_before(c, em["last_email_date"]).astype("float64")

    out = out[feature_names()]
    if _has_values(wh):
        out = out.join(spend_features(wh, params, out.index))
    out = out.join(attribute_features(wh, out.index, set(out.columns)))
    out = out.sort_index()
    out.index = out.index.astype(object)
    out.index.name = "customer_id"
    return out
