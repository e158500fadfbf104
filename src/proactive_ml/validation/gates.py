"""Batch-level gates (fail closed): schema, type drift, quarantine share, volume, freshness, distribution.

Pure functions. Thresholds come from the ``meta`` of the suite's batch expectations; history is the stats of
earlier *accepted* batches of the same dataset (newest first, from ``validation_runs``). Each gate also yields
the suite parameters GX needs to evaluate the same expectation (``min_rows``, ``freshness_min`` ...); a gate
without enough history is *skipped* and left out of the GX run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from proactive_ml.validation.suites import Suite


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
    import re
    from pathlib import Path

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
    """KL(current || Laplace-smoothed previous) over the union of categories, as GX's categorical KL computes it
    with the returned partition (values, weights).
    """
    cats = sorted(set(current) | set(previous))
    n_prev = sum(previous.values())
    q = np.array([(previous.get(c, 0) + 1) / (n_prev + len(cats)) for c in cats])
    p = np.array([current.get(c, 0) for c in cats], dtype=float)
    p = p / p.sum()
    nz = p > 0
    kl = float(np.sum(p[nz] * np.log(p[nz] / (q[nz] / q.sum()))))
    return kl, cats, [float(x) for x in q]


def evaluate_gates(
    suite: Suite,
    stats: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    as_of: datetime | date,
    max_quarantine_share: float,
    logical_date: date | None = None,
) -> tuple[list[GateResult], dict[str, Any], list[str]]:
    """Evaluate every batch gate. Returns (failures, GX suite parameters, names of skipped expectations).

    ``stats`` is the batch's statistics (see ``BatchValidator.stats``); ``history`` the stats of earlier accepted
    batches, newest first. Freshness is measured against the batch's ``logical_date`` (end of that day) when it is
    earlier than ``as_of`` — a backfill of old daily files is judged by each file's own date — else ``as_of``.
    """
    failures: list[GateResult] = []
    params: dict[str, Any] = {}
    skipped: list[str] = []
    rows = int(stats["rows"])

    # quarantine share: not a GX expectation of its own; names the row expectations behind it
    qshare = stats["quarantined"] / rows if rows else 0.0
    if qshare > max_quarantine_share:
        top = [kv for kv in sorted(stats["rule_counts"].items(), key=lambda kv: -kv[1]) if kv[1]]
        detail = ", ".join(f"{k}: {v} rows" for k, v in top[:6]) + (
            f" and {len(top) - 6} more" if len(top) > 6 else ""
        )
        failures.append(
            GateResult(
                "quarantine_share",
                f"{qshare:.2%} ({stats['quarantined']} of {rows} rows)",
                f"<= {max_quarantine_share:.2%}",
                f"failed row expectations: {detail}",
            )
        )

    for rule in suite.batch_rules:
        gate = rule.meta.get("gate")
        col = rule.kwargs.get("column")
        if gate == "schema":
            expected = list(rule.kwargs["column_set"])
            present = list(stats["raw_columns"])
            required = {r.kwargs.get("column") for r in suite.row_rules if r.meta.get("rule") == "required"}
            missing = [c for c in expected if c not in present and c in required]  # optional: read as empty
            extra = [c for c in present if c not in expected and not c.startswith("_")]
            if missing or extra:
                failures.append(
                    GateResult(
                        rule.name,
                        {"missing": missing, "unexpected": extra},
                        f"columns = {expected}",
                        "a column is missing, renamed or added",
                    )
                )
        elif gate == "type_drift":
            nonnull = int(stats["nonnull"].get(col, 0))
            bad = int(stats["unparseable"].get(col, 0))
            limit = float(rule.meta.get("max_unparseable_share", 0.5))
            if nonnull >= int(rule.meta.get("min_values", 20)) and bad / nonnull > limit:
                failures.append(
                    GateResult(
                        rule.name,
                        f"{bad / nonnull:.1%} of {nonnull} values do not parse",
                        f"<= {limit:.0%} unparseable as {rule.meta.get('contract_type')}",
                        "the column's type changed",
                        col,
                    )
                )
        elif gate == "volume":
            past = [int(h["rows"]) for h in history[: int(rule.meta.get("trailing_batches", 7))]]
            median = float(np.median(past)) if past else 0.0
            if len(past) < int(rule.meta.get("min_history", 3)) or median < float(
                rule.meta.get("min_median_rows", 50)
            ):
                skipped.append(rule.name)
                continue
            lo = int(math.floor(float(rule.meta.get("min_ratio", 0.2)) * median))
            hi = int(math.ceil(float(rule.meta.get("max_ratio", 5.0)) * median)) + int(
                rule.meta.get("slack_rows", 0)
            )
            params.update(min_rows=lo, max_rows=hi)
            if not lo <= rows <= hi:
                failures.append(
                    GateResult(
                        rule.name,
                        rows,
                        f"between {lo} and {hi} rows",
                        f"trailing median {median:g} rows of the last {len(past)} accepted batches",
                    )
                )
        elif gate == "freshness":
            newest = stats.get("time_max")
            if not rows or newest is None:
                skipped.append(rule.name)
                continue
            ref = as_of_end(as_of)
            if logical_date is not None:
                ref = min(ref, as_of_end(logical_date))
            floor_ = ref - timedelta(days=float(rule.meta["max_age_days"]))
            newest_dt = datetime.fromisoformat(newest)
            params["freshness_min"] = (
                floor_ if "date" not in stats.get("time_type", "timestamp") else floor_.date()
            )
            if newest_dt < floor_:
                failures.append(
                    GateResult(
                        rule.name,
                        newest,
                        f">= {floor_.isoformat()}",
                        f"newest {col} is older than {rule.meta['max_age_days']} days",
                        col,
                    )
                )
        elif gate == "distribution":
            prev = history[0] if history else None
            min_rows = int(rule.meta.get("min_rows", 200))
            if rule.meta.get("kind") == "categorical":
                cur = stats["categorical"].get(col, {})
                old = (prev or {}).get("categorical", {}).get(col, {})
                if sum(cur.values()) < min_rows or sum(old.values()) < min_rows:
                    skipped.append(rule.name)
                    continue
                kl, cats, weights = kl_divergence(cur, old)
                params[f"{col}_partition"] = {"values": cats, "weights": weights}
                limit = float(rule.kwargs.get("threshold", 0.1))
                if kl > limit:
                    failures.append(
                        GateResult(
                            rule.name,
                            round(kl, 4),
                            f"KL divergence <= {limit}",
                            f"{col} mix moved away from the last accepted batch",
                            col,
                        )
                    )
            else:
                cur_sum, cur_n = stats["means"].get(col, [0.0, 0])
                old_sum, old_n = (prev or {}).get("means", {}).get(col, [0.0, 0])
                if cur_n < min_rows or old_n < min_rows:
                    skipped.append(rule.name)
                    continue
                shift = float(rule.meta.get("max_abs_shift", 1.0))
                old_mean, cur_mean = old_sum / old_n, cur_sum / cur_n
                params[f"{col}_mean_min"], params[f"{col}_mean_max"] = old_mean - shift, old_mean + shift
                if abs(cur_mean - old_mean) > shift:
                    failures.append(
                        GateResult(
                            rule.name,
                            round(cur_mean, 3),
                            f"between {old_mean - shift:.3f} and {old_mean + shift:.3f}",
                            f"mean {col} of the last accepted batch was {old_mean:.3f}",
                            col,
                        )
                    )
    return failures, params, skipped
