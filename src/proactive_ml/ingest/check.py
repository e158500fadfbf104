"""``sources check``: the first mapped rows of each dataset and every problem, before anything is written.

Nothing touches the warehouse. Each claimed file is read and mapped exactly as ``ingest`` would, then its rows
go through the row rules of the dataset's reviewed suite (the same vectorised masks validation uses), so every
row that ingestion would quarantine is listed with file, line and column. Foreign keys are checked against the
customers of the same mapping (customers already in the warehouse are not looked up). Batch gates that need
history (volume, freshness, distribution) are not evaluated; the quarantine share is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from proactive_ml.contract import DATASETS
from proactive_ml.errors import IngestError
from proactive_ml.ingest.files import SUFFIXES
from proactive_ml.ingest.mapping import SourcesConfig
from proactive_ml.ingest.sources import (
    DERIVED,
    SourcePlan,
    dataset_for,
    derived_customers,
    fill_signup,
    first_seen,
    map_file,
    plan_sources,
    unclaimed_message,
)
from proactive_ml.ingest.transform import MappedTable, Problem
from proactive_ml.validation.batch import BatchValidator
from proactive_ml.validation.suites import load_suite

MAX_ROW_PROBLEMS = 50  # per file


@dataclass
class DatasetCheck:
    """What the check found for one dataset."""

    name: str
    files: list[Path] = field(default_factory=list)
    rows: int = 0
    preview: pd.DataFrame | None = None
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class CheckReport:
    """The whole check: per dataset, plus warnings (unclaimed files, globs that match nothing)."""

    plan: SourcePlan
    datasets: list[DatasetCheck] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fatal: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        """Every problem of every dataset."""
        return [p for d in self.datasets for p in d.problems]

    @property
    def ok(self) -> bool:
        """True when ingesting would load every file without quarantining a row."""
        return not self.problems and not self.fatal


def check_sources(
    config: SourcesConfig,
    landing: Path | None = None,
    rows: int = 5,
    as_of: datetime | None = None,
    max_share: float = 0.02,
) -> CheckReport:
    """Map every claimed file, preview ``rows`` rows per dataset and list every problem; writes nothing."""
    plan = plan_sources(config, landing)
    report = CheckReport(plan)
    at = as_of or datetime.utcnow()
    tables: dict[str, list[MappedTable]] = {}
    for name in plan.files:
        checked = DatasetCheck(name, list(plan.files[name]))
        report.datasets.append(checked)
        tables[name] = _map_all(plan, name, checked)
    events = tables.get("usage_events", [])
    if plan.derive_customers:
        derived = MappedTable(Path(DERIVED), "customers", derived_customers(events))
        tables["customers"] = [derived]
        checked = DatasetCheck("customers", [], notes=[f"{DERIVED}: customer_id and first event date"])
        report.datasets.insert(0, checked)
    if plan.derive_signup:
        seen = first_seen(events)
        for t in tables.get("customers", []):
            fill_signup(t, seen)
    ids = _customer_ids(tables.get("customers"))
    for checked in report.datasets:
        _check_rows(plan, checked, tables.get(checked.name, []), ids, at, max_share, rows)
    _warnings(report)
    return report


def _map_all(plan: SourcePlan, name: str, checked: DatasetCheck) -> list[MappedTable]:
    out = []
    for p in plan.files[name]:
        try:
            t = map_file(plan, name, p)
        except IngestError as exc:
            checked.problems.append(Problem(exc.path, exc.line, exc.column, f"file refused: {exc}"))
            continue
        out.append(t)
        checked.problems += t.problems
    return out


def _customer_ids(customers: list[MappedTable] | None) -> pa.Array | None:
    if customers is None:
        return None
    ids = pd.concat([t.frame["customer_id"] for t in customers]) if customers else pd.Series([], dtype=object)
    return pa.array(ids.dropna().astype(str).unique().tolist(), type=pa.string())


def _check_rows(
    plan: SourcePlan,
    checked: DatasetCheck,
    tables: list[MappedTable],
    ids: pa.Array | None,
    as_of: datetime,
    max_share: float,
    rows: int,
) -> None:
    """Row rules of the suite on every mapped file; quarantine share per file."""
    name = checked.name
    dataset = dataset_for(plan.config.datasets[name]) if name in plan.config.datasets else DATASETS[name]
    suite = load_suite(name)
    previews = []
    for t in tables:
        known = {c: ids for c in dataset.foreign_keys} if ids is not None else None
        v = BatchValidator(dataset, suite, source_file=str(t.path), as_of=as_of, known=known)
        if known is None:
            v.rules = [r for r in v.rules if r.meta.get("rule") != "foreign_key"]
        _, q = v.process(t.frame)
        checked.rows += len(t.frame)
        for r in q.head(MAX_ROW_PROBLEMS).itertuples():
            checked.problems.append(
                Problem(str(t.path), int(r.source_line), str(r.column) or None, str(r.reason))
            )
        if len(q) > MAX_ROW_PROBLEMS:
            more = len(q) - MAX_ROW_PROBLEMS
            checked.problems.append(Problem(str(t.path), None, None, f"... and {more} more rows that fail"))
        share = len(q) / max(len(t.frame), 1)
        if share > max_share:
            checked.problems.append(
                Problem(
                    str(t.path),
                    None,
                    None,
                    f"{share:.1%} of {len(t.frame)} rows fail (limit {max_share:.0%}): ingest would refuse the file",
                )
            )
        previews.append(t.frame)
        checked.notes += _extras(t)
    if previews:
        frame = pd.concat(previews, ignore_index=True).head(rows)
        shown = [c for c in frame.columns if not c.startswith("_") and frame[c].notna().any()]
        checked.preview = frame[["_line", *shown]].rename(columns={"_line": "line"})


def _extras(t: MappedTable) -> list[str]:
    """One line per declared attribute (kind, values) and the label's class counts."""
    notes = []
    for (name, kind), n in t.attributes.groupby(["name", "kind"], sort=False).size().items():
        notes.append(f"attribute {name} ({kind}): {n} of {len(t.frame)} rows have a value [{t.path.name}]")
    if len(t.labels):
        counts = t.labels["label"].value_counts()
        notes.append(
            f"label: {int(counts.get(True, 0))} true, {int(counts.get(False, 0))} false of {len(t.frame)} rows"
            f" [{t.path.name}]"
        )
    return notes


def _warnings(report: CheckReport) -> None:
    plan = report.plan
    for name in plan.empty:
        report.warnings.append(f"datasets.{name}.files matches no file under {plan.landing}")
    if plan.unclaimed:
        unknown = [p for p in plan.unclaimed if p.suffix.lower() not in SUFFIXES]
        msg = unclaimed_message(plan)
        if unknown:
            msg += f"\n  ({len(unknown)} of unknown file type: {sorted({p.suffix or '(none)' for p in unknown})})"
        report.warnings.append(msg)
        if not any(plan.files.values()):
            report.fatal.append("no file is claimed by any dataset, but the landing folder holds files")


def render(report: CheckReport) -> str:
    """The report as text for a person."""
    plan = report.plan
    lines = [f"{plan.config.company}: mapping {plan.config.path}, landing folder {plan.landing}"]
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_colwidth", 30):
        for d in report.datasets:
            lines.append("")
            lines.append(f"== {d.name}: {len(d.files)} file(s), {d.rows} row(s) mapped")
            lines += [f"   {n}" for n in d.notes]
            if d.preview is not None and len(d.preview):
                lines += ["   " + x for x in d.preview.to_string(index=False).splitlines()]
            if d.problems:
                lines.append(f"   {len(d.problems)} problem(s):")
                lines += [f"   - {p}" for p in d.problems]
            else:
                lines.append("   no problems")
    for w in report.warnings:
        lines += ["", f"warning: {w}"]
    for f in report.fatal:
        lines += ["", f"error: {f}"]
    verdict = "OK: ingest would load every file" if report.ok else "problems found: see above"
    lines += ["", verdict + " (nothing was written)"]
    return "\n".join(lines)
