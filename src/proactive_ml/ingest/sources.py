"""Bring your own data: ingest a company's files through its ``sources.yaml`` mapping.

Each file a dataset's glob claims is read (:mod:`.readers`), mapped to the contract's all-text layout
(:mod:`.transform`) and handed to the same validation and loading path as a landing file
(:func:`proactive_ml.ingest.files.ingest_frame`: GX suites, quarantine with file/line/column, gates, one
transaction per file). Customer attributes and the snapshot label a mapping declares are written in the same
transaction (``customer_attributes``, ``customer_attribute_defs``, ``customer_labels``).

Derivations: without a ``customers`` dataset, customers are derived from the mapped usage events (customer_id,
first event date as signup_date; existing customers are kept); a ``customers`` mapping without ``signup_date``
takes each customer's first event date. Files in the landing folder that no dataset claims are listed; a run
that loads nothing while files are present fails.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import pandas as pd

from proactive_ml.contract import DATASETS, INGEST_ORDER, USAGE_EVENTS, Dataset
from proactive_ml.errors import UserError
from proactive_ml.ingest.entries import check_entries, refusal, walk
from proactive_ml.ingest.files import (
    FileResult,
    IngestSummary,
    already_ingested,
    check_something_loaded,
    describe_unclaimed,
    ingest_frame,
    unclaimed_files,
)
from proactive_ml.ingest.landing import MAX_LINE_BYTES, read_bytes
from proactive_ml.ingest.mapping import DatasetMapping, KeyContext, SourcesConfig, expand_env, load_sources
from proactive_ml.ingest.readers import read_source
from proactive_ml.ingest.transform import MappedTable, map_table
from proactive_ml.settings import Settings
from proactive_ml.validation.gx_run import deferred_data_docs
from proactive_ml.warehouse.engine import Warehouse

DERIVED = "customers derived from usage_events"


@dataclass
class SourcePlan:
    """Which files each dataset of a mapping claims, and what nobody claims."""

    config: SourcesConfig
    landing: Path
    files: dict[str, list[Path]] = field(default_factory=dict)
    unclaimed: list[Path] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)  # datasets whose globs match no file

    @property
    def derive_customers(self) -> bool:
        """No customers dataset: customers come from the usage events."""
        return "customers" not in self.config.datasets and "usage_events" in self.config.datasets

    @property
    def derive_signup(self) -> bool:
        """A customers mapping without signup_date: it comes from each customer's first event."""
        cm = self.config.datasets.get("customers")
        return cm is not None and "signup_date" not in cm.columns

    def mapping(self, dataset: str) -> DatasetMapping:
        """The mapping of one dataset."""
        return self.config.datasets[dataset]


def resolve_sources(settings: Settings, sources: str | Path | None = None) -> SourcesConfig | None:
    """The mapping to use: ``sources`` (a CLI flag), else the ``sources_file`` setting, else None."""
    path = sources or settings.sources_file
    return load_sources(Path(path)) if path else None


def plan_sources(config: SourcesConfig, landing: Path | None = None) -> SourcePlan:
    """Expand each dataset's globs (relative to the landing folder; ``${ENV}`` expanded) and list the rest."""
    root = Path(landing) if landing else config.landing_dir
    if not root.is_dir():
        raise UserError(f"{config.path}: landing_dir: {root} is not a folder")
    plan = SourcePlan(config, root)
    ctx = KeyContext(config.path)
    refused = walk(root)[1]
    owner: dict[Path, str] = {}
    for name in INGEST_ORDER:
        dm = config.datasets.get(name)
        if dm is None:
            continue
        found: set[Path] = set()
        for i, pattern in enumerate(dm.files):
            pat = expand_env(pattern, ctx, f"datasets.{name}.files[{i}]")
            full = pat if os.path.isabs(pat) else str(root / pat)
            inside = Path(os.sep) if os.path.isabs(pat) else root  # an absolute pattern names its own place
            for p in map(Path, glob.glob(full, recursive=True)):
                why = refusal(p, inside)
                if why is not None:
                    refused.append((p, why))
                elif p.is_file():
                    found.add(p)
        for p in found:
            if p in owner:
                raise UserError(f"{config.path}: datasets.{name}.files: {p} is also claimed by {owner[p]}")
            owner[p] = name
        plan.files[name] = sorted(found)
        if not found:
            plan.empty.append(name)
    check_entries(sorted(set(refused)), root)
    claimed = set(owner) | {config.path}
    plan.unclaimed = unclaimed_files(root, claimed)
    return plan


def mapping_digest(content_sha256: str, dm: DatasetMapping) -> str:
    """Idempotence key of a mapped file: the hash of the content read and the mapping it was read with."""
    return hashlib.sha256(f"{content_sha256}|{dm!r}".encode()).hexdigest()


def map_file(
    plan: SourcePlan, dataset: str, path: Path, data: tuple[bytes, str] | None = None
) -> MappedTable:
    """Read and map one file of a dataset (structural faults raise IngestError naming file, line, column).

    ``data`` is ``(bytes, sha256)`` when the caller read the file already; the table carries the hash.
    """
    dm = plan.mapping(dataset)
    return map_table(read_source(path, dm, data), dm, dataset_for(dm))


def dataset_for(dm: DatasetMapping) -> Dataset:
    """The contract dataset a mapping loads into (usage events keyed by ``event_id`` when it says so)."""
    ds = DATASETS[dm.name]
    if dm.name == "usage_events" and dm.event_id:
        return replace(USAGE_EVENTS, key=("event_id",))
    return ds


def first_seen(events: list[MappedTable]) -> pd.DataFrame:
    """customer_id -> the date of the first event (from mapped usage events; unparseable times ignored)."""
    parts = []
    for t in events:
        ts = pd.to_datetime(t.frame["ts"], errors="coerce", format="ISO8601")
        parts.append(pd.DataFrame({"customer_id": t.frame["customer_id"], "ts": ts}).dropna())
    if not parts:
        return pd.DataFrame(columns=["customer_id", "signup_date"])
    allev = pd.concat(parts, ignore_index=True)
    first = allev.groupby("customer_id", sort=True)["ts"].min()
    return pd.DataFrame({"customer_id": first.index, "signup_date": first.dt.strftime("%Y-%m-%d").to_numpy()})


def derived_customers(events: list[MappedTable]) -> pd.DataFrame:
    """The customers rows implied by usage events: customer_id and first event date, other columns empty."""
    fs = first_seen(events)
    frame = pd.DataFrame({c: None for c in DATASETS["customers"].column_names}, index=range(len(fs)))
    frame["customer_id"] = fs["customer_id"].to_numpy()
    frame["signup_date"] = fs["signup_date"].to_numpy()
    frame = frame.astype(object)
    frame["_line"] = range(1, len(frame) + 1)
    frame["_decode_error"] = False
    return frame


def fill_signup(table: MappedTable, seen: pd.DataFrame) -> None:
    """A customers mapping without signup_date: each customer's first event date."""
    lookup = dict(zip(seen["customer_id"], seen["signup_date"], strict=True))
    table.frame["signup_date"] = table.frame["customer_id"].map(lookup).astype(object)
    table.frame["signup_date"] = table.frame["signup_date"].where(table.frame["signup_date"].notna(), None)


# ---------------------------------------------------------------------------------------------- ingest
def ingest_sources(
    wh: Warehouse,
    config: SourcesConfig,
    settings: Settings,
    as_of: datetime,
    landing: Path | None = None,
    on_file: Callable[[FileResult], None] | None = None,
) -> IngestSummary:
    """Validate and load every file a mapping claims, customers first; stops at the first refused file."""
    plan = plan_sources(config, landing)
    summary = IngestSummary(unclaimed=plan.unclaimed)
    events = None
    if plan.derive_customers or plan.derive_signup:
        events = [map_file(plan, "usage_events", p) for p in plan.files.get("usage_events", [])]
    with deferred_data_docs(settings):
        if plan.derive_customers and events:
            _ingest_derived(wh, plan, events, settings, as_of, summary, on_file)
        for name in INGEST_ORDER:
            for p in plan.files.get(name, []):
                res = _ingest_one(wh, plan, name, p, settings, as_of, events)
                summary.files.append(res)
                if on_file:
                    on_file(res)
    check_something_loaded(summary, plan.landing)
    return summary


def _ingest_one(
    wh: Warehouse,
    plan: SourcePlan,
    name: str,
    path: Path,
    settings: Settings,
    as_of: datetime,
    events: list[MappedTable] | None,
) -> FileResult:
    dm = plan.mapping(name)
    mapped = next((t for t in events if t.path == path), None) if name == "usage_events" and events else None
    data: tuple[bytes, str] | None = None
    if mapped is not None:  # read and hashed once, with the other event files
        digest = mapping_digest(mapped.sha256, dm)
    else:  # read once: the hash is of the bytes mapped below (a file replaced meanwhile cannot mix them up)
        data = read_bytes(path, None if dm.format == "parquet" else MAX_LINE_BYTES)
        digest = mapping_digest(data[1], dm)
    if already_ingested(wh, digest):
        return FileResult(path, name, "skipped")
    table = mapped if mapped is not None else map_file(plan, name, path, data)
    if name == "customers" and plan.derive_signup:
        fill_signup(table, first_seen(events or []))
    store = None
    if name == "customers" and (dm.attributes or dm.label is not None):
        store = _extra_writer(plan.config, dm, table, as_of)
    newest = plan.files[name][-1]  # a backfill's older files are history: only the newest must be fresh
    return ingest_frame(
        wh, dataset_for(dm), table.frame, path, digest, settings, as_of, store, history=path != newest
    )


def _ingest_derived(
    wh: Warehouse,
    plan: SourcePlan,
    events: list[MappedTable],
    settings: Settings,
    as_of: datetime,
    summary: IngestSummary,
    on_file: Callable[[FileResult], None] | None,
) -> None:
    """Customers implied by the events; customers already stored keep their row (no upsert)."""
    dm = plan.mapping("usage_events")
    keys = "|".join(mapping_digest(t.sha256, dm) for t in events)
    digest = hashlib.sha256(f"{DERIVED}|{keys}".encode()).hexdigest()
    if already_ingested(wh, digest):
        summary.files.append(FileResult(Path(DERIVED), "customers", "skipped"))
        return
    ds = replace(DATASETS["customers"], upsert=False)
    res = ingest_frame(wh, ds, derived_customers(events), Path(DERIVED), digest, settings, as_of)
    summary.files.append(res)
    if on_file:
        on_file(res)


def _extra_writer(
    config: SourcesConfig, dm: DatasetMapping, table: MappedTable, as_of: datetime
) -> Callable[[Warehouse, pd.DataFrame], None]:
    """Write the attributes and labels of the customers that passed validation (same transaction)."""

    def write(wh: Warehouse, valid: pd.DataFrame) -> None:
        ids = set(valid["customer_id"].astype(str))
        attrs = table.attributes.loc[table.attributes["customer_id"].astype(str).isin(ids)]
        attrs = attrs.drop_duplicates(["customer_id", "name"], keep="first").assign(updated_at=as_of)
        text = attrs["value_text"].astype(
            object
        )  # no PostgreSQL text holds a NUL: a free attribute keeps U+FFFD
        attrs["value_text"] = text.where(
            text.isna(), text.astype(str).str.replace("\x00", "\ufffd", regex=False)
        )
        labels = table.labels.loc[table.labels["customer_id"].astype(str).isin(ids)]
        labels = labels.drop_duplicates("customer_id", keep="first").assign(observed_at=as_of)
        with wh.staged(pd.DataFrame({"customer_id": sorted(ids)}), "staged_ids") as staged:
            if dm.attributes:
                wh.execute(
                    f"DELETE FROM customer_attributes WHERE customer_id IN (SELECT customer_id FROM {staged})"
                )
            if dm.label is not None:
                wh.execute(
                    f"DELETE FROM customer_labels WHERE observed_at = :t "
                    f"AND customer_id IN (SELECT customer_id FROM {staged})",
                    {"t": as_of},
                )
        if len(attrs):
            attrs = attrs.assign(value_num=attrs["value_num"].astype("float64"))
            wh.insert_frame("customer_attributes", attrs)
        if len(labels):
            wh.insert_frame("customer_labels", labels.assign(label=labels["label"].astype(bool)))
        _write_defs(wh, config, dm, as_of)

    return write


def _write_defs(wh: Warehouse, config: SourcesConfig, dm: DatasetMapping, as_of: datetime) -> None:
    if not dm.attributes:
        return
    defs = pd.DataFrame(
        [
            {"name": n, "kind": s.kind, "reason": s.reason or None, "source": s.source, "updated_at": as_of}
            for n, s in dm.attributes.items()
        ]
    )
    names = ", ".join(f"'{n}'" for n in dm.attributes)  # attribute names are identifiers (checked on load)
    wh.execute(f"DELETE FROM customer_attribute_defs WHERE name IN ({names})")
    wh.insert_frame("customer_attribute_defs", defs)


# ---------------------------------------------------------------------------------------------- read back
def customer_attributes(wh: Warehouse) -> pd.DataFrame:
    """The declared customer attributes as a frame: one row per customer, one column per attribute.

    Numeric attributes are float64, categorical ones object (text); missing values are NaN/None. The frame's
    ``attrs`` hold ``kinds`` (name -> numeric|categorical) and ``reasons`` (name -> reason text with
    ``{value}``, or ""), for features and reason texts.
    """
    long = wh.query("SELECT customer_id, name, kind, value_num, value_text FROM customer_attributes")
    defs = wh.query("SELECT name, kind, reason FROM customer_attribute_defs ORDER BY name")
    kinds = dict(zip(defs["name"], defs["kind"], strict=True))
    reasons = {
        n: (r if isinstance(r, str) else "") for n, r in zip(defs["name"], defs["reason"], strict=True)
    }
    if long.empty:
        out = pd.DataFrame(index=pd.Index([], name="customer_id", dtype=object))
    else:
        long["value"] = long["value_num"].astype(object).where(long["kind"] == "numeric", long["value_text"])
        out = long.pivot(index="customer_id", columns="name", values="value")
        out.columns.name = None
    for name, kind in kinds.items():
        if name not in out.columns:
            out[name] = None
        out[name] = out[name].astype("float64") if kind == "numeric" else out[name].astype(object)
    out.attrs["kinds"] = kinds
    out.attrs["reasons"] = reasons
    return out.sort_index()


def customer_labels(wh: Warehouse) -> pd.DataFrame:
    """The latest snapshot label per customer: customer_id, label (bool), observed_at."""
    return wh.query(
        "SELECT l.customer_id, l.label, l.observed_at FROM customer_labels l "
        "JOIN (SELECT customer_id, max(observed_at) AS observed_at FROM customer_labels GROUP BY customer_id) m "
        "ON l.customer_id = m.customer_id AND l.observed_at = m.observed_at ORDER BY l.customer_id"
    )


def unclaimed_message(plan: SourcePlan) -> str:
    """A warning listing the landing files that no dataset claims."""
    return (
        f"{len(plan.unclaimed)} file(s) in {plan.landing} are claimed by no dataset:\n"
        + describe_unclaimed(plan.unclaimed)
    )
