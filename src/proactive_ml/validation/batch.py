"""Validate one incoming batch (a landing file): typed valid rows, quarantined rows, fail-closed gates, Data Docs.

Flow of :func:`validate_batch`:

1. the all-string frame is processed in chunks (bounded memory): parse to contract types, evaluate every
   row-level rule of the suite as a vectorised mask, drop later duplicate keys, check foreign keys;
2. each failing input line is quarantined **once**, with every expectation it failed and a readable reason
   each (``expectation`` and ``reason`` are ``; ``-joined) — so ``rows == len(valid) + len(quarantined)``;
3. batch gates (schema, type drift, quarantine share, volume, freshness, distribution) are evaluated on exact
   statistics of the whole batch against the accepted history in ``validation_runs``;
4. GX runs the same suite on the validation frame (all of it up to ``GX_MAX_ROWS`` rows, else a uniform sample
   of ``GX_SAMPLE_ROWS``; GX's per-row checks run in Python, ~10 us/row/expectation) and updates Data Docs. Its ``success`` is checked explicitly: a failed batch expectation that no gate explained,
   an expectation GX could not evaluate, or (full-batch runs) a row expectation whose GX count differs from the
   mask count fails the batch too;
5. the run is recorded in ``validation_runs``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from proactive_ml.contract import DATASETS, Dataset
from proactive_ml.settings import Settings
from proactive_ml.validation import store
from proactive_ml.validation.gates import GateResult, as_of_end, evaluate_gates, logical_date, row_params
from proactive_ml.validation.rules import KeyTracker, parse_chunk, rule_mask
from proactive_ml.validation.suites import Rule, Suite, load_suite
from proactive_ml.warehouse import Warehouse

CHUNK_ROWS = 500_000
GX_MAX_ROWS = 100_000  # GX validates the whole batch up to this size ...
GX_SAMPLE_ROWS = (
    20_000  # ... and a uniform sample of this many rows above it (GX costs ~10 us/row/expectation)
)
_REASONS = {"encoding": "row contains bytes that are not valid UTF-8 (decoded with replacement)"}


@dataclass
class BatchResult:
    """What validation decided about one batch."""

    dataset: str
    source_file: str
    rows: int
    valid: pd.DataFrame
    quarantined: pd.DataFrame
    gate_failures: list[GateResult] = field(default_factory=list)
    docs_path: Path | None = None
    docs_index: Path | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    skipped_gates: list[str] = field(default_factory=list)
    gx_rows: int = 0

    @property
    def success(self) -> bool:
        """True when no gate failed (rows may still have been quarantined)."""
        return not self.gate_failures

    @property
    def quarantined_lines(self) -> int:
        return int(self.quarantined["source_line"].nunique()) if len(self.quarantined) else 0


def format_gate_failures(result: BatchResult) -> str:
    """A message for a person: each failed expectation, its observed value, the threshold, the Data Docs page."""
    lines = [
        f"validation of {result.dataset} file {result.source_file} failed closed "
        f"({len(result.gate_failures)} gate(s)); nothing was written:"
    ]
    for g in result.gate_failures:
        col = f" [{g.column}]" if g.column and g.column not in g.expectation else ""
        lines.append(
            f"  - {g.expectation}{col}: observed {g.observed}; expected {g.threshold}"
            + (f" ({g.description})" if g.description else "")
        )
    lines.append(f"  Data Docs: {result.docs_path or result.docs_index}")
    return "\n".join(lines)


def resolve_dataset(dataset: str | Dataset) -> Dataset:
    """A contract dataset by name (or the Dataset itself, for datasets defined outside the contract)."""
    if isinstance(dataset, Dataset):
        return dataset
    try:
        return DATASETS[dataset]
    except KeyError:
        from proactive_ml.errors import UserError

        raise UserError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}") from None


def known_ids(
    wh: Warehouse, dataset: Dataset, extra: Mapping[str, Iterable[str]] | None = None
) -> dict[str, pa.Array]:
    """For each foreign key, the referenced ids in the warehouse (plus ``extra`` ids from the same load)."""
    out: dict[str, pa.Array] = {}
    for col, ref in dataset.foreign_keys.items():
        table, ref_col = ref.split(".")
        ids: list[Any] = wh.query(
            f"SELECT DISTINCT {ref_col} AS id FROM {table} WHERE {ref_col} IS NOT NULL"
        )["id"].tolist()
        if extra and col in extra:
            ids = list(set(ids) | {str(x) for x in extra[col]})
        out[col] = pa.array(ids, type=pa.string())
    return out


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "<empty>"
    return repr(v)


class BatchValidator:
    """Row-level validation of one batch, chunk by chunk, with running statistics for the gates."""

    def __init__(
        self,
        dataset: Dataset,
        suite: Suite,
        *,
        source_file: str,
        as_of: datetime | date,
        known: Mapping[str, pa.Array] | None = None,
        expected_rows: int | None = None,
        gx_max_rows: int = GX_MAX_ROWS,
        seed: int = 0,
    ) -> None:
        self.dataset, self.suite, self.source_file = dataset, suite, source_file
        self.as_of = as_of
        self.params = row_params(suite, as_of)
        self.known = dict(known or {})
        self.keys = KeyTracker(dataset.key)
        self.rules = [r for r in suite.row_rules if r.meta.get("rule") != "unique"]
        self.unique_rule = next((r for r in suite.row_rules if r.meta.get("rule") == "unique"), None)
        self.gx_max_rows = gx_max_rows
        self.expected_rows = expected_rows
        self._rng = np.random.default_rng(seed)
        self._gx_parts: list[pd.DataFrame] = []
        self._gx_rows = 0
        self.sampled = False
        dist = [r for r in suite.gate("distribution")]
        self._cat_cols = [r.kwargs["column"] for r in dist if r.meta.get("kind") == "categorical"]
        self._mean_rules = [r for r in dist if r.meta.get("kind") == "mean"]
        self.stats: dict[str, Any] = {
            "rows": 0,
            "valid": 0,
            "quarantined": 0,
            "raw_columns": [],
            "rule_counts": Counter(),
            "nonnull": Counter(),
            "unparseable": Counter(),
            "time_max": None,
            "time_type": dataset.column(dataset.time_column).type,
            "categorical": {c: Counter() for c in self._cat_cols},
            "means": {r.kwargs["column"]: [0.0, 0] for r in self._mean_rules},
        }

    # ------------------------------------------------------------------ one chunk
    def process(self, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Validate one chunk. Returns (valid typed rows, quarantined rows)."""
        raw = raw.reset_index(drop=True)
        n = len(raw)
        if not self.stats["raw_columns"]:
            self.stats["raw_columns"] = [str(c) for c in raw.columns]
        parsed = parse_chunk(self.dataset, raw, self.known)
        frame = parsed.frame
        fails: list[tuple[Rule, np.ndarray]] = []
        for rule in self.rules:
            m = rule_mask(rule, frame, self.params)
            if m.any():
                fails.append((rule, m))
        if self.unique_rule is not None:
            m = self.keys.later_duplicates(frame)
            if m.any():
                fails.append((self.unique_rule, m))
        bad = np.zeros(n, dtype=bool)
        for rule, m in fails:
            bad |= m
            self.stats["rule_counts"][rule.name] += int(m.sum())
        self._update_stats(parsed, frame, bad)
        self._keep_for_gx(frame)
        cols = self.dataset.column_names
        valid = frame.loc[~bad, cols].reset_index(drop=True)
        quarantined = self._quarantine_rows(raw, parsed, fails, bad)
        return valid, quarantined

    def _update_stats(self, parsed: Any, frame: pd.DataFrame, bad: np.ndarray) -> None:
        st = self.stats
        st["rows"] += len(frame)
        st["quarantined"] += int(bad.sum())
        st["valid"] += int((~bad).sum())
        for c, text in parsed.raw.items():
            st["nonnull"][c] += len(text) - text.null_count
        for c, m in parsed.unparseable.items():
            st["unparseable"][c] += int(m.sum())
        t = frame[self.dataset.time_column]
        if t.notna().any():
            tmax = pd.Timestamp(t.max()).isoformat()
            if st["time_max"] is None or tmax > st["time_max"]:
                st["time_max"] = tmax
        for c in self._cat_cols:
            st["categorical"][c].update({str(k): int(v) for k, v in frame[c].value_counts().items()})
        for r in self._mean_rules:
            from proactive_ml.validation.rules import _condition_mask

            col = r.kwargs["column"]
            vals = frame[col][_condition_mask(frame, r.kwargs)].dropna()
            st["means"][col][0] += float(vals.astype("float64").sum())
            st["means"][col][1] += len(vals)

    def _keep_for_gx(self, frame: pd.DataFrame) -> None:
        expected = self.expected_rows
        if (
            not self.sampled
            and self._gx_rows + len(frame) <= self.gx_max_rows
            and (expected is None or expected <= self.gx_max_rows)
        ):
            self._gx_parts.append(frame)
            self._gx_rows += len(frame)
            return
        self.sampled = True
        rate = GX_SAMPLE_ROWS / max(expected or 0, self.stats["rows"], 1)
        take = self._rng.random(len(frame)) < min(1.0, rate * 1.2)
        self._gx_parts.append(frame.loc[take])
        self._gx_rows += int(take.sum())

    def gx_frame(self) -> pd.DataFrame:
        """The frame GX validates: the whole batch, or a uniform sample of at most ``gx_max_rows`` rows."""
        if not self._gx_parts:
            cols = {c.name: pd.Series(dtype="str") for c in self.dataset.columns}
            return pd.DataFrame(cols)
        df = pd.concat(self._gx_parts, ignore_index=True)
        if self.sampled and len(df) > GX_SAMPLE_ROWS:
            df = df.sample(n=GX_SAMPLE_ROWS, random_state=0).reset_index(drop=True)
        return df

    def _quarantine_rows(
        self, raw: pd.DataFrame, parsed: Any, fails: list[tuple[Rule, np.ndarray]], bad: np.ndarray
    ) -> pd.DataFrame:
        """One row per failing input line: every expectation it failed and a reason for each (vectorised per
        rule: values are fetched in bulk, not per cell).
        """
        idx = np.flatnonzero(bad)
        if len(idx) == 0:
            return pd.DataFrame(columns=store.QUARANTINE_COLUMNS)
        rows_l: list[np.ndarray] = []
        cols_l: list[list[str]] = []
        names_l: list[list[str]] = []
        reasons_l: list[list[str]] = []
        for order, (rule, m) in enumerate(fails):
            ridx = np.flatnonzero(m)
            cols, reasons = self._reasons(rule, parsed, ridx)
            rows_l.append(ridx * len(fails) + order)  # sort key: row, then rule order
            cols_l.append(cols)
            names_l.append([rule.name] * len(ridx))
            reasons_l.append(reasons)
        keys = np.concatenate(rows_l)
        order_ = np.argsort(keys, kind="stable")
        flat_cols = np.array([c for cl in cols_l for c in cl], dtype=object)[order_]
        flat_names = np.array([n for nl in names_l for n in nl], dtype=object)[order_]
        flat_reasons = np.array([r for rl in reasons_l for r in rl], dtype=object)[order_]
        row_of = keys[order_] // len(fails)
        starts = np.flatnonzero(np.r_[True, row_of[1:] != row_of[:-1]])
        ends = np.r_[starts[1:], len(row_of)]
        col_out, exp_out, reason_out = [], [], []
        for s0, e0 in zip(starts.tolist(), ends.tolist(), strict=True):
            col_out.append(",".join(dict.fromkeys(c for c in flat_cols[s0:e0] if c)))
            exp_out.append("; ".join(flat_names[s0:e0]))
            reason_out.append("; ".join(flat_reasons[s0:e0]))
        rows_idx = row_of[starts]  # == idx, sorted
        lines = raw["_line"].to_numpy()[rows_idx] if "_line" in raw.columns else rows_idx + 2
        data_cols = [c for c in raw.columns if not str(c).startswith("_")]
        sub = raw.iloc[rows_idx][data_cols].astype(object)
        raw_json = sub.to_json(orient="records", lines=True, force_ascii=False).splitlines()
        at = pd.Timestamp(self.as_of if isinstance(self.as_of, datetime) else as_of_end(self.as_of))
        return pd.DataFrame(
            {
                "dataset": self.dataset.name,
                "source_file": self.source_file,
                "source_line": np.asarray(lines, dtype=np.int64),
                "column": col_out,
                "expectation": exp_out,
                "reason": reason_out,
                "raw_row": raw_json,
                "quarantined_at": at,
            },
            columns=store.QUARANTINE_COLUMNS,
        )

    def _reasons(self, rule: Rule, parsed: Any, ridx: np.ndarray) -> tuple[list[str], list[str]]:
        """(column, reason) for each failing row of one rule."""
        kind = rule.meta.get("rule")
        kw = rule.kwargs
        col = str(kw.get("column") or "")
        n = len(ridx)
        take = pa.array(ridx, type=pa.int64())

        def vals(c: str) -> list[str]:
            if c not in parsed.raw:
                return ["<n/a>"] * n
            return [_fmt(v) for v in parsed.raw[c].take(take).to_pylist()]

        if kind == "type":
            types = rule.meta.get("contract_types", {})
            parts: list[list[str]] = [[] for _ in range(n)]
            cols: list[list[str]] = [[] for _ in range(n)]
            for c, m in parsed.unparseable.items():
                vs = vals(c)
                t = types.get(c, self.dataset.column(c).type)
                for j, (hit, v) in enumerate(zip(m[ridx], vs, strict=True)):
                    if hit:
                        parts[j].append(f"{c}={v} is not a valid {t}")
                        cols[j].append(c)
            return [",".join(c) for c in cols], [", ".join(p) for p in parts]
        if kind == "foreign_key":
            fk = str(rule.meta.get("column"))
            ref = rule.meta.get("references", "reference")
            return [fk] * n, [f"{fk}={v} is not a known {ref}" for v in vals(fk)]
        if kind == "unique":
            per_col = [vals(c) for c in self.dataset.key]
            keys = [
                ", ".join(f"{c}={v}" for c, v in zip(self.dataset.key, vs, strict=True))
                for vs in zip(*per_col, strict=True)
            ]
            return [",".join(self.dataset.key)] * n, [
                f"duplicate key ({k}) of an earlier row in this batch" for k in keys
            ]
        if kind == "encoding":
            return [""] * n, [_REASONS["encoding"]] * n
        if kind == "required":
            return [col] * n, [
                f"required {col} is empty" if v == "<empty>" else f"required {col}={v} could not be parsed"
                for v in vals(col)
            ]
        if kind == "enum":
            allowed = ", ".join(map(str, kw["value_set"]))
            return [col] * n, [f"{col}={v} is not one of {allowed}" for v in vals(col)]
        if kind in ("range", "future"):
            lo, hi = kw.get("min_value"), kw.get("max_value")
            hi = self.params[hi["$PARAMETER"]] if isinstance(hi, dict) else hi
            lo = self.params[lo["$PARAMETER"]] if isinstance(lo, dict) else lo
            if kind == "future":
                return [col] * n, [f"{col}={v} is in the future (after {hi})" for v in vals(col)]
            bounds = f">= {lo}" if hi is None else (f"<= {hi}" if lo is None else f"between {lo} and {hi}")
            cond = f" when {kw['row_condition']}" if kw.get("row_condition") else ""
            return [col] * n, [f"{col}={v} is out of range (must be {bounds}{cond})" for v in vals(col)]
        if kind == "email":
            return [col] * n, [f"{col}={v} is not a well-formed email address" for v in vals(col)]
        if kind == "order":
            a, b = kw["column_A"], kw["column_B"]
            return [f"{a},{b}"] * n, [
                f"{a}={va} is before {b}={vb}" for va, vb in zip(vals(a), vals(b), strict=True)
            ]
        return [col] * n, [f"failed {rule.name}"] * n

    def final_stats(self) -> dict[str, Any]:
        """JSON-friendly statistics of the whole batch."""
        st = dict(self.stats)
        for k in ("rule_counts", "nonnull", "unparseable"):
            st[k] = dict(st[k])
        st["categorical"] = {c: dict(v) for c, v in st["categorical"].items()}
        return st


def _chunks(raw: pd.DataFrame, rows: int) -> Iterable[pd.DataFrame]:
    for start in range(0, max(len(raw), 1), rows):
        yield raw.iloc[start : start + rows]


def validate_stream(
    wh: Warehouse,
    dataset: str | Dataset,
    chunks: Iterable[pd.DataFrame],
    source_file: str,
    as_of: datetime | date,
    settings: Settings,
    *,
    on_chunk: Callable[[pd.DataFrame, pd.DataFrame], None] | None = None,
    expected_rows: int | None = None,
    gates: bool = True,
    kind: str = "ingest",
    extra_known: Mapping[str, Iterable[str]] | None = None,
    record: bool = True,
    suites_dir: Path | None = None,
    gx_max_rows: int = GX_MAX_ROWS,
) -> BatchResult:
    """Validate a batch given as chunks of raw string rows. Valid and quarantined rows of each chunk go to
    ``on_chunk`` (when given; else they are collected in the result). See the module docstring for the flow.
    """
    ds = resolve_dataset(dataset)
    suite = load_suite(ds.name, suites_dir)
    validator = BatchValidator(
        ds,
        suite,
        source_file=source_file,
        as_of=as_of,
        known=known_ids(wh, ds, extra_known),
        expected_rows=expected_rows,
        gx_max_rows=gx_max_rows,
        seed=settings.seed,
    )
    valid_parts: list[pd.DataFrame] = []
    q_parts: list[pd.DataFrame] = []
    row_seconds = 0.0
    for chunk in chunks:
        t0 = time.perf_counter()
        v, q = validator.process(chunk)
        row_seconds += time.perf_counter() - t0
        if on_chunk is not None:
            on_chunk(v, q)
        else:
            valid_parts.append(v)
            if len(q):
                q_parts.append(q)
    stats = validator.final_stats()
    if gates:
        history = store.accepted_history(wh, ds.name)
        failures, params, skipped = evaluate_gates(
            suite, stats, history, as_of, settings.quarantine_max_share, logical_date(source_file)
        )
    else:
        failures, params = [], {}
        skipped = [r.name for r in suite.batch_rules]
    params.update(validator.params)
    gxf = validator.gx_frame()
    run_time = as_of_end(as_of) if not isinstance(as_of, datetime) else as_of
    from proactive_ml.validation.gx_run import run_suite

    gx_skip = set(skipped)
    if validator.sampled:  # a sample's row count says nothing: the exact volume gate decides
        gx_skip |= {r.name for r in suite.gate("volume")}
    t0 = time.perf_counter()
    outcome = run_suite(
        settings,
        suite,
        gxf,
        params,
        run_name=f"{ds.name}-{Path(source_file).name}",
        run_time=run_time,
        skip=gx_skip,
    )
    gx_seconds = time.perf_counter() - t0
    failures += _check_gx(outcome, failures, stats, full=not validator.sampled, gates=gates)
    valid = (
        pd.concat(valid_parts, ignore_index=True)
        if valid_parts
        else pd.DataFrame({c: pd.Series(dtype=object) for c in ds.column_names})
    )
    quarantined = (
        pd.concat(q_parts, ignore_index=True) if q_parts else pd.DataFrame(columns=store.QUARANTINE_COLUMNS)
    )
    stats["gx"] = {
        "rows_validated": outcome.rows_validated,
        "sampled": validator.sampled,
        "success": outcome.success,
    }
    stats["seconds"] = {"rows": round(row_seconds, 3), "gx_and_docs": round(gx_seconds, 3)}
    result = BatchResult(
        dataset=ds.name,
        source_file=source_file,
        rows=stats["rows"],
        valid=valid,
        quarantined=quarantined,
        gate_failures=failures,
        docs_path=outcome.docs_path,
        docs_index=outcome.index_path,
        stats=stats,
        skipped_gates=skipped,
        gx_rows=outcome.rows_validated,
    )
    if record:
        store.record_run(
            wh,
            dataset=ds.name,
            source_file=source_file,
            kind=kind,
            as_of=as_of,
            rows=stats["rows"],
            valid=stats["valid"],
            quarantined=stats["quarantined"],
            success=result.success,
            gate_failures=[g.to_dict() for g in failures],
            stats=stats,
            docs_path=str(outcome.docs_path or outcome.index_path),
        )
    return result


def _check_gx(
    outcome: Any, failures: list[GateResult], stats: Mapping[str, Any], *, full: bool, gates: bool
) -> list[GateResult]:
    """GX's verdict, read explicitly: anything GX failed that the exact checks did not explain fails closed."""
    explained = {g.expectation for g in failures}
    extra: list[GateResult] = []
    for r in outcome.results:
        if r.error:
            extra.append(
                GateResult(
                    r.name,
                    "error",
                    "GX evaluates the expectation",
                    f"GX could not evaluate it: {r.error[:200]}",
                )
            )
            continue
        if r.level == "batch":
            if not r.success and gates and full and r.name not in explained:
                extra.append(GateResult(r.name, r.observed, "GX success", "GX failed this batch expectation"))
        elif full and r.unexpected_count is not None and "unique" not in r.type:
            mine = int(stats["rule_counts"].get(r.name, 0))
            if int(r.unexpected_count) != mine:
                extra.append(
                    GateResult(
                        r.name,
                        f"GX {r.unexpected_count} rows, masks {mine} rows",
                        "GX and quarantine masks agree",
                        "row rule disagreement",
                    )
                )
    return extra


def validate_batch(
    wh: Warehouse,
    dataset: str | Dataset,
    raw: pd.DataFrame,
    source_file: str,
    as_of: datetime | date,
    settings: Settings,
    *,
    chunk_rows: int = CHUNK_ROWS,
    gates: bool = True,
    kind: str = "ingest",
    extra_known: Mapping[str, Iterable[str]] | None = None,
    record: bool = True,
    suites_dir: Path | None = None,
) -> BatchResult:
    """Validate one landing file's all-string frame (with ``_line`` and ``_decode_error``).

    Returns valid typed rows (contract columns), quarantined rows (one per failing input line, every failed
    expectation and reason joined with ``; ``), gate failures (empty = accepted) and the Data Docs page.
    Records the run in ``validation_runs``; writes nothing else (ingestion writes ``valid`` and calls
    :func:`write_quarantine` in its transaction, or raises ``GateFailure(format_gate_failures(result))``).
    ``gates=False`` (re-ingest of fixed quarantine rows) evaluates row rules only.
    """
    return validate_stream(
        wh,
        dataset,
        _chunks(raw, chunk_rows),
        source_file,
        as_of,
        settings,
        expected_rows=len(raw),
        gates=gates,
        kind=kind,
        extra_known=extra_known,
        record=record,
        suites_dir=suites_dir,
    )
