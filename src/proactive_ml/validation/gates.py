"""Batch-level gates (fail closed): schema, type drift, quarantine share, volume, freshness, distribution.

Pure functions. Thresholds come from the ``meta`` of the suite's batch expectations; history is the stats of
earlier *accepted* batches of the same dataset (newest first, from ``validation_runs``). Each gate also yields
the suite parameters GX needs to evaluate the same expectation (``min_rows``, ``freshness_min`` ...); a gate
without enough history is *skipped* and left out of the GX run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from proactive_ml.validation.suites import Rule, Suite


@dataclass(frozen=True)
class GateResult:
    """One failed batch-level check: which expectation, what was observed, what was allowed."""

    expectation: str
    observed: Any
    threshold: str
    description: str = ""
    column: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (for ``validation_runs``)."""
        d = asdict(self)
        d["observed"] = _jsonable(self.observed)
        return d


def _jsonable(v: Any) -> Any:
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v


def as_of_end(as_of: datetime | date) -> datetime:
    """``as_of`` as a naive datetime; a bare date means the end of that day."""
    if isinstance(as_of, datetime):
        return as_of.replace(tzinfo=None) if as_of.tzinfo is None else as_of.astimezone().replace(tzinfo=None)
    return datetime(as_of.year, as_of.month, as_of.day) + timedelta(days=1)


def logical_date(source_file: str) -> date | None:
    """The date a daily landing file is about, from its name (``landing/<dataset>/2026-03-01.csv``), if any."""
    m = re.match(r"^(\d{4}-\d{2}-\d{2})", Path(source_file).name)
    if not m:
        return None
    try:
        return date.fromisoformat(m.group(1))
    except ValueError:
        return None


def row_params(suite: Suite, as_of: datetime | date) -> dict[str, Any]:
    """Suite parameters of the row rules: the latest acceptable timestamp/date (as_of + tolerance)."""
    end = as_of_end(as_of)
    tol = max(
        (float(r.meta.get("tolerance_hours", 24)) for r in suite.row_rules if r.meta.get("rule") == "future"),
        default=24.0,
    )
    latest = end + timedelta(hours=tol)
    return {"max_timestamp": latest, "max_date": latest.date()}


def kl_divergence(
    current: Mapping[str, int], previous: Mapping[str, int]
) -> tuple[float, list[str], list[float]]:
    """KL(current || Laplace-smoothed previous) over the union of categories.

    GX's categorical KL computes the same figure with the returned partition (values, weights).
    """
    cats = sorted(set(current) | set(previous))
    n_prev = sum(previous.values())
    q = np.array([(previous.get(c, 0) + 1) / (n_prev + len(cats)) for c in cats])
    p = np.array([current.get(c, 0) for c in cats], dtype=float)
    p = p / p.sum()
    nz = p > 0
    kl = float(np.sum(p[nz] * np.log(p[nz] / (q[nz] / q.sum()))))
    return kl, cats, [float(x) for x in q]


@dataclass
class _Check:
    """What one gate found: a failure (or None), the GX suite parameters it filled in, whether it was skipped."""

    failure: GateResult | None = None
    params: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False


# one gate: (rule, batch stats, accepted history newest first, freshness reference time) -> what it found
_Gate = Callable[[Rule, Mapping[str, Any], Sequence[Mapping[str, Any]], datetime], _Check]


def _quarantine_share(stats: Mapping[str, Any], max_share: float) -> GateResult | None:
    """Too many quarantined rows: not a GX expectation of its own; names the row expectations behind it."""
    rows = int(stats["rows"])
    qshare = stats["quarantined"] / rows if rows else 0.0
    if qshare <= max_share:
        return None
    top = [kv for kv in sorted(stats["rule_counts"].items(), key=lambda kv: -kv[1]) if kv[1]]
    detail = ", ".join(f"{k}: {v} rows" for k, v in top[:6]) + (
        f" and {len(top) - 6} more" if len(top) > 6 else ""
    )
    return GateResult(
        "quarantine_share",
        f"{qshare:.2%} ({stats['quarantined']} of {rows} rows)",
        f"<= {max_share:.2%}",
        f"failed row expectations: {detail}",
    )


def _schema(
    rule: Rule, stats: Mapping[str, Any], history: Sequence[Mapping[str, Any]], ref: datetime
) -> _Check:
    """A column is missing, renamed or added."""
    expected = list(rule.kwargs["column_set"])
    present = list(stats["raw_columns"])
    required = stats.get("required_columns", set(expected))
    missing = [c for c in expected if c not in present and c in required]  # optional: read as empty
    extra = [c for c in present if c not in expected and not c.startswith("_")]
    if not (missing or extra):
        return _Check()
    return _Check(
        GateResult(
            rule.name,
            {"missing": missing, "unexpected": extra},
            f"columns = {expected}",
            "a column is missing, renamed or added",
        )
    )


def _type_drift(
    rule: Rule, stats: Mapping[str, Any], history: Sequence[Mapping[str, Any]], ref: datetime
) -> _Check:
    """Most values of a typed column stop parsing as the contract type."""
    col = rule.kwargs.get("column")
    nonnull = int(stats["nonnull"].get(col, 0))
    bad = int(stats["unparseable"].get(col, 0))
    limit = float(rule.meta.get("max_unparseable_share", 0.5))
    if nonnull < int(rule.meta.get("min_values", 20)) or bad / nonnull <= limit:
        return _Check()
    return _Check(
        GateResult(
            rule.name,
            f"{bad / nonnull:.1%} of {nonnull} values do not parse",
            f"<= {limit:.0%} unparseable as {rule.meta.get('contract_type')}",
            "the column's type changed",
            col,
        )
    )


def _volume(
    rule: Rule, stats: Mapping[str, Any], history: Sequence[Mapping[str, Any]], ref: datetime
) -> _Check:
    """Row count against the trailing median of accepted batches (skipped without enough history)."""
    meta = rule.meta
    past = [int(h["rows"]) for h in history[: int(meta.get("trailing_batches", 7))]]
    median = float(np.median(past)) if past else 0.0
    if len(past) < int(meta.get("min_history", 3)) or median < float(meta.get("min_median_rows", 50)):
        return _Check(skipped=True)
    lo = int(math.floor(float(meta.get("min_ratio", 0.2)) * median))
    hi = int(math.ceil(float(meta.get("max_ratio", 5.0)) * median)) + int(meta.get("slack_rows", 0))
    rows = int(stats["rows"])
    check = _Check(params={"min_rows": lo, "max_rows": hi})
    if not lo <= rows <= hi:
        check.failure = GateResult(
            rule.name,
            rows,
            f"between {lo} and {hi} rows",
            f"trailing median {median:g} rows of the last {len(past)} accepted batches",
        )
    return check


def _freshness(
    rule: Rule, stats: Mapping[str, Any], history: Sequence[Mapping[str, Any]], ref: datetime
) -> _Check:
    """The newest time value is at most ``max_age_days`` older than the reference time."""
    col = rule.kwargs.get("column")
    newest = stats.get("time_max")
    if not int(stats["rows"]) or newest is None:
        return _Check(skipped=True)
    floor_ = ref - timedelta(days=float(rule.meta["max_age_days"]))
    dated = "date" in stats.get("time_type", "timestamp")
    check = _Check(params={"freshness_min": floor_.date() if dated else floor_})
    if datetime.fromisoformat(newest) < floor_:
        check.failure = GateResult(
            rule.name,
            newest,
            f">= {floor_.isoformat()}",
            f"newest {col} is older than {rule.meta['max_age_days']} days",
            col,
        )
    return check


def _category_mix(
    rule: Rule, stats: Mapping[str, Any], history: Sequence[Mapping[str, Any]], ref: datetime
) -> _Check:
    """KL divergence of a column's category mix from the last accepted batch."""
    col = rule.kwargs.get("column")
    min_rows = int(rule.meta.get("min_rows", 200))
    cur = stats["categorical"].get(col, {})
    old = (history[0] if history else {}).get("categorical", {}).get(col, {})
    if sum(cur.values()) < min_rows or sum(old.values()) < min_rows:
        return _Check(skipped=True)
    kl, cats, weights = kl_divergence(cur, old)
    check = _Check(params={f"{col}_partition": {"values": cats, "weights": weights}})
    limit = float(rule.kwargs.get("threshold", 0.1))
    if kl > limit:
        check.failure = GateResult(
            rule.name,
            round(kl, 4),
            f"KL divergence <= {limit}",
            f"{col} mix moved away from the last accepted batch",
            col,
        )
    return check


def _mean_shift(
    rule: Rule, stats: Mapping[str, Any], history: Sequence[Mapping[str, Any]], ref: datetime
) -> _Check:
    """A column's mean within ``max_abs_shift`` of the last accepted batch's."""
    col = rule.kwargs.get("column")
    min_rows = int(rule.meta.get("min_rows", 200))
    cur_sum, cur_n = stats["means"].get(col, [0.0, 0])
    old_sum, old_n = (history[0] if history else {}).get("means", {}).get(col, [0.0, 0])
    if cur_n < min_rows or old_n < min_rows:
        return _Check(skipped=True)
    shift = float(rule.meta.get("max_abs_shift", 1.0))
    old_mean, cur_mean = old_sum / old_n, cur_sum / cur_n
    check = _Check(params={f"{col}_mean_min": old_mean - shift, f"{col}_mean_max": old_mean + shift})
    if abs(cur_mean - old_mean) > shift:
        check.failure = GateResult(
            rule.name,
            round(cur_mean, 3),
            f"between {old_mean - shift:.3f} and {old_mean + shift:.3f}",
            f"mean {col} of the last accepted batch was {old_mean:.3f}",
            col,
        )
    return check


def _distribution(
    rule: Rule, stats: Mapping[str, Any], history: Sequence[Mapping[str, Any]], ref: datetime
) -> _Check:
    """A categorical mix or a mean against the last accepted batch."""
    gate = _category_mix if rule.meta.get("kind") == "categorical" else _mean_shift
    return gate(rule, stats, history, ref)


_GATES: dict[str, _Gate] = {
    "schema": _schema,
    "type_drift": _type_drift,
    "volume": _volume,
    "freshness": _freshness,
    "distribution": _distribution,
}


def evaluate_gates(
    suite: Suite,
    stats: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    as_of: datetime | date,
    max_quarantine_share: float,
    logical_date: date | None = None,
    *,
    skip_gates: Collection[str] = (),
) -> tuple[list[GateResult], dict[str, Any], list[str]]:
    """Evaluate every batch gate.

    Freshness is measured against the batch's ``logical_date`` (end of that day) when it is earlier than
    ``as_of`` — a backfill of old daily files is judged by each file's own date — else ``as_of``.

    Args:
        suite: The dataset's suite; its batch rules are the gates.
        stats: The batch's statistics (see ``BatchValidator.stats``).
        history: The stats of earlier accepted batches, newest first.
        as_of: When the batch is validated.
        max_quarantine_share: The largest share of quarantined rows the batch may have.
        logical_date: The date the batch's file is about, if its name says.
        skip_gates: Gate kinds left out for this batch (recorded as skipped).

    Returns:
        (failures, GX suite parameters, names of skipped expectations).
    """
    ref = as_of_end(as_of)
    if logical_date is not None:
        ref = min(ref, as_of_end(logical_date))
    share = _quarantine_share(stats, max_quarantine_share)
    failures: list[GateResult] = [share] if share else []
    params: dict[str, Any] = {}
    skipped: list[str] = []
    required = {r.kwargs.get("column") for r in suite.row_rules if r.meta.get("rule") == "required"}
    stats = {**stats, "required_columns": required}
    for rule in suite.batch_rules:
        kind = str(rule.meta.get("gate"))
        gate = _GATES.get(kind)
        if gate is None:
            continue
        if kind in skip_gates:
            skipped.append(rule.name)
            continue
        check = gate(rule, stats, history, ref)
        if check.skipped:
            skipped.append(rule.name)
        params.update(check.params)
        if check.failure is not None:
            failures.append(check.failure)
    return failures, params, skipped
