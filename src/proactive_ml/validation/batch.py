"""Validate one incoming batch (a landing file): typed valid rows, quarantined rows, fail-closed gates, Data Docs.

Flow of :func:`validate_batch`:

1. the all-string frame is processed in chunks (bounded memory; :mod:`.validator`): parse to contract types,
   evaluate every row-level rule of the suite as a vectorised mask, drop later duplicate keys, check foreign keys;
2. each failing input line is quarantined **once**, with every expectation it failed and a readable reason
   each (``expectation`` and ``reason`` are ``; ``-joined) — so ``rows == len(valid) + len(quarantined)``;
3. batch gates (schema, type drift, quarantine share, volume, freshness, distribution) are evaluated on exact
   statistics of the whole batch against the accepted history in ``validation_runs``;
4. GX runs the same suite on the validation frame (all of it up to ``GX_MAX_ROWS`` rows, else a uniform sample
   of ``GX_SAMPLE_ROWS``; GX's per-row checks run in Python, ~10 us/row/expectation) and updates Data Docs. Its
   ``success`` is checked explicitly: a failed batch expectation that no gate explained, an expectation GX could
   not evaluate, or (full-batch runs) a row expectation whose GX count differs from the mask count fails the
   batch too;
5. the run is recorded in ``validation_runs``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from proactive_ml.contract import DATASETS, Dataset
from proactive_ml.errors import UserError
from proactive_ml.settings import Settings
from proactive_ml.validation import store
from proactive_ml.validation.gates import GateResult, as_of_end, evaluate_gates, logical_date
from proactive_ml.validation.gx_run import GxOutcome, run_suite
from proactive_ml.validation.rules import known_mask, to_text
from proactive_ml.validation.suites import load_suite
from proactive_ml.validation.validator import GX_MAX_ROWS, GX_SAMPLE_ROWS, BatchValidator
from proactive_ml.warehouse import Warehouse

__all__ = [
    "CHUNK_ROWS",
    "GX_MAX_ROWS",
    "GX_SAMPLE_ROWS",
    "BatchResult",
    "BatchValidator",
    "format_gate_failures",
    "known_ids",
    "known_rows",
    "record_result",
    "resolve_dataset",
    "validate_batch",
    "validate_stream",
]

CHUNK_ROWS = 500_000
FETCH_ALL_ROWS = (
    2_000_000  # above this many rows a batch's foreign keys are probed against every referenced id
)


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
        """How many distinct input lines were quarantined."""
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
        raise UserError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}") from None


def known_ids(
    wh: Warehouse, dataset: Dataset, extra: Mapping[str, Iterable[str]] | None = None
) -> dict[str, pa.Array]:
    """For each foreign key, the referenced ids in the warehouse (plus ``extra`` ids from the same load)."""
    out: dict[str, pa.Array] = {}
    for col, ref in dataset.foreign_keys.items():
        table, ref_col = ref.split(".")
        ids = wh.text_column(f"SELECT DISTINCT {ref_col} AS id FROM {table} WHERE {ref_col} IS NOT NULL")
        if extra and col in extra:
            more = pa.array(sorted({str(x) for x in extra[col]}), type=pa.string())
            ids = pc.unique(pa.concat_arrays([ids, more]))
        out[col] = ids
    return out


def _chunks(raw: pd.DataFrame, rows: int) -> Iterable[pd.DataFrame]:
    for start in range(0, max(len(raw), 1), rows):
        yield raw.iloc[start : start + rows]


def _validate_rows(
    validator: BatchValidator,
    chunks: Iterable[pd.DataFrame],
    on_chunk: Callable[[pd.DataFrame, pd.DataFrame], None] | None,
) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Run the row rules over every chunk. Returns (valid rows, quarantined rows, seconds spent).

    With ``on_chunk`` each chunk's rows go there and the returned frames are empty.
    """
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
    valid = (
        pd.concat(valid_parts, ignore_index=True)
        if valid_parts
        else pd.DataFrame({c: pd.Series(dtype=object) for c in validator.dataset.column_names})
    )
    quarantined = (
        pd.concat(q_parts, ignore_index=True) if q_parts else pd.DataFrame(columns=store.QUARANTINE_COLUMNS)
    )
    return valid, quarantined, row_seconds


def _evaluate_gates(
    history: list[dict[str, Any]],
    validator: BatchValidator,
    stats: dict[str, Any],
    settings: Settings,
    *,
    gates: bool,
    skip_gates: Collection[str] = (),
) -> tuple[list[GateResult], dict[str, Any], list[str]]:
    """The batch gates against the accepted history; with ``gates=False`` every gate is skipped."""
    if not gates:
        return [], {}, [r.name for r in validator.suite.batch_rules]
    return evaluate_gates(
        validator.suite,
        stats,
        history,
        validator.as_of,
        settings.quarantine_max_share,
        logical_date(validator.source_file),
        skip_gates=skip_gates,
    )


def _run_gx(
    settings: Settings, validator: BatchValidator, params: dict[str, Any], skipped: list[str]
) -> tuple[GxOutcome, float]:
    """GX runs the suite on the validation frame. Returns (GX's outcome, seconds it took with Data Docs).

    Gates skipped for want of history are left out, and so is the volume gate when GX sees a sample.
    """
    suite, as_of = validator.suite, validator.as_of
    gx_frame = validator.gx_frame()
    gx_skip = set(skipped)
    if validator.sampled:  # a sample's row count says nothing: the exact volume gate decides
        gx_skip |= {r.name for r in suite.gate("volume")}
    t0 = time.perf_counter()
    outcome = run_suite(
        settings,
        suite,
        gx_frame,
        params,
        run_name=f"{validator.dataset.name}-{Path(validator.source_file).name}",
        run_time=as_of_end(as_of) if not isinstance(as_of, datetime) else as_of,
        skip=gx_skip,
    )
    return outcome, time.perf_counter() - t0


def _note_gx_and_time(
    stats: dict[str, Any], outcome: GxOutcome, *, sampled: bool, row_seconds: float, gx_seconds: float
) -> None:
    """Add what GX validated and where the time went to the batch's statistics."""
    stats["gx"] = {"rows_validated": outcome.rows_validated, "sampled": sampled, "success": outcome.success}
    stats["seconds"] = {"rows": round(row_seconds, 3), "gx_and_docs": round(gx_seconds, 3)}


def record_result(wh: Warehouse, result: BatchResult, kind: str, as_of: datetime | date) -> None:
    """Write the run to ``validation_runs`` (joins an open transaction).

    A caller that writes the batch passes ``record=False`` to :func:`validate_batch` and records the run in the
    transaction that writes the rows, so a success row never stands for a batch that was not written.
    """
    stats = result.stats
    store.record_run(
        wh,
        dataset=result.dataset,
        source_file=result.source_file,
        kind=kind,
        as_of=as_of,
        rows=stats["rows"],
        valid=stats["valid"],
        quarantined=stats["quarantined"],
        success=result.success,
        gate_failures=[g.to_dict() for g in result.gate_failures],
        stats=stats,
        docs_path=str(result.docs_path or result.docs_index),
    )


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
    skip_gates: Collection[str] = (),
    kind: str = "ingest",
    extra_known: Mapping[str, Iterable[str]] | None = None,
    record: bool = True,
    suites_dir: Path | None = None,
    gx_max_rows: int = GX_MAX_ROWS,
    batch: pd.DataFrame | None = None,
) -> BatchResult:
    """Validate a batch given as chunks of raw string rows; see the module docstring for the flow.

    Valid and quarantined rows of each chunk go to ``on_chunk`` (when given; else they are collected in the
    result). The other arguments are those of :func:`validate_batch`, plus ``expected_rows`` (the batch's size
    if known, to sample for GX from the first chunk), ``gx_max_rows`` and ``batch`` (the whole raw frame the
    chunks are consecutive slices of, when at hand: its foreign keys are then looked up once, not per chunk).
    """
    ds = resolve_dataset(dataset)
    suite = load_suite(ds.name, suites_dir)
    # the whole batch at hand: only its own ids are looked up; else every referenced id, probed per chunk
    rows = known_rows(wh, ds, batch, extra_known) if batch is not None else None
    known = known_ids(wh, ds, extra_known) if rows is None else {}
    validator = BatchValidator(
        ds,
        suite,
        source_file=source_file,
        as_of=as_of,
        known=known,
        known_rows=rows,
        expected_rows=expected_rows,
        gx_max_rows=gx_max_rows,
        seed=settings.seed,
    )
    # read before the rows: an ``on_chunk`` writer may hold the warehouse from the first chunk on
    history = store.accepted_history(wh, ds.name) if gates else []
    valid, quarantined, row_seconds = _validate_rows(validator, chunks, on_chunk)
    stats = validator.final_stats()
    failures, params, skipped = _evaluate_gates(
        history, validator, stats, settings, gates=gates, skip_gates=skip_gates
    )
    params.update(validator.params)
    outcome, gx_seconds = _run_gx(settings, validator, params, skipped)
    failures += _check_gx(outcome, failures, stats, full=not validator.sampled, gates=gates)
    _note_gx_and_time(
        stats, outcome, sampled=validator.sampled, row_seconds=row_seconds, gx_seconds=gx_seconds
    )
    result = _result(ds.name, source_file, stats, (valid, quarantined), failures, outcome, skipped)
    if record:
        record_result(wh, result, kind, as_of)
    return result


def _result(
    dataset: str,
    source_file: str,
    stats: dict[str, Any],
    rows: tuple[pd.DataFrame | None, pd.DataFrame | None],
    failures: list[GateResult],
    outcome: GxOutcome,
    skipped: list[str],
) -> BatchResult:
    """The batch's result: its rows (valid, quarantined; None when streamed to ``on_chunk``), gates and GX."""
    valid, quarantined = rows
    return BatchResult(
        dataset=dataset,
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


def _check_gx(
    outcome: GxOutcome, failures: list[GateResult], stats: Mapping[str, Any], *, full: bool, gates: bool
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
    skip_gates: Collection[str] = (),
    kind: str = "ingest",
    extra_known: Mapping[str, Iterable[str]] | None = None,
    record: bool = True,
    suites_dir: Path | None = None,
    on_chunk: Callable[[pd.DataFrame, pd.DataFrame], None] | None = None,
) -> BatchResult:
    """Validate one landing file's all-string frame (with ``_line`` and ``_decode_error``).

    Returns valid typed rows (contract columns), quarantined rows (one per failing input line, every failed
    expectation and reason joined with ``; ``), gate failures (empty = accepted) and the Data Docs page.
    Records the run in ``validation_runs``; writes nothing else (ingestion writes ``valid`` and calls
    :func:`write_quarantine` in its transaction, or raises ``GateFailure(format_gate_failures(result))``).
    ``gates=False`` (re-ingest of fixed quarantine rows) evaluates row rules only; ``skip_gates`` names gate
    kinds (``"freshness"``, ...) left out for this batch, e.g. an older history file loaded beside a newer one.
    With ``on_chunk`` each chunk's valid and quarantined rows go there as soon as they are known (see
    :func:`validate_stream`).
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
        skip_gates=skip_gates,
        kind=kind,
        extra_known=extra_known,
        record=record,
        suites_dir=suites_dir,
        batch=raw,
        on_chunk=on_chunk,
    )


def known_rows(
    wh: Warehouse, ds: Dataset, raw: pd.DataFrame, extra: Mapping[str, Iterable[str]] | None = None
) -> dict[str, np.ndarray]:
    """For each foreign key the file holds: a bool per row, True where the referenced row is known.

    Only the batch's distinct values are looked up, by one semi-join in the warehouse (plus ``extra`` ids from the
    same load): the referenced table (a million customers) is never copied out per file. A batch of more than
    ``FETCH_ALL_ROWS`` rows holds about every id anyway: the referenced ids are then fetched once and probed.
    """
    if len(raw) > FETCH_ALL_ROWS:
        known = known_ids(wh, ds, extra)
        return {c: known_mask(to_text(raw[c]), known.get(c)) for c in ds.foreign_keys if c in raw.columns}
    out: dict[str, np.ndarray] = {}
    for col, ref in ds.foreign_keys.items():
        if col not in raw.columns:
            continue
        text = to_text(raw[col])
        found = referenced_ids(wh, ref, pc.unique(text.drop_null()))
        if extra and col in extra:
            more = pa.array(sorted({str(x) for x in extra[col]}), type=pa.string())
            found = pa.concat_arrays([found, more])
        out[col] = known_mask(text, found)
    return out


def referenced_ids(wh: Warehouse, ref: str, values: pa.Array) -> pa.Array:
    """The ``values`` that ``ref`` (``table.column``) holds, looked up by one semi-join in the warehouse."""
    if not len(values):
        return pa.array([], pa.string())
    table, ref_col = ref.split(".")
    with wh.arrow_source(pa.table({"id": values.cast(pa.string())}), "fk_values") as staged:
        return wh.text_column(f"SELECT s.id FROM {staged} s WHERE s.id IN (SELECT {ref_col} FROM {table})")
