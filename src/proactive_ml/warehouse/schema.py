"""The one schema of the warehouse: every table declared once, and the migrations that build it.

In: a :class:`Warehouse` connection. Out: the same warehouse at :data:`SCHEMA_VERSION`, every table of the product
present (raw datasets of the contract, validation, scores, outreach, responses, measurement).

:func:`migrate` runs once at the start of every flow and every CLI command that opens the warehouse
(:func:`open_warehouse`); no other module creates tables or asks whether one exists. Migrations are applied in
order, each once and in its own transaction, recorded in ``schema_version``. On PostgreSQL a transaction-scoped
advisory lock (per schema) makes concurrent runs take turns, so two processes migrating at once both succeed with
one set of tables; DuckDB is one process, where a lock per process does the same.

Version 1 uses ``CREATE TABLE IF NOT EXISTS`` so that a warehouse built before migrations existed is adopted as it
is. Later changes are new entries at the end of :data:`MIGRATIONS` (``ALTER TABLE ...``), never edits of old ones.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from proactive_ml.contract import DATASETS, create_table_sql
from proactive_ml.warehouse.engine import Warehouse, WarehouseError

_LOCK_CLASS = 5_807_311  # first key of the PostgreSQL advisory lock; the second is the schema's name hashed
_DUCKDB_LOCK = threading.Lock()

# ---------------------------------------------------------------------------------------------- the tables
VALIDATION_TABLES = {
    "ingest_log": """CREATE TABLE IF NOT EXISTS ingest_log (
  file_sha256 TEXT PRIMARY KEY,
  dataset TEXT NOT NULL,
  path TEXT NOT NULL,
  rows BIGINT NOT NULL,
  valid_rows BIGINT NOT NULL,
  quarantined_rows BIGINT NOT NULL,
  ingested_at TIMESTAMP NOT NULL
)""",
    "quarantine": """CREATE TABLE IF NOT EXISTS quarantine (
  dataset TEXT NOT NULL,
  source_file TEXT NOT NULL,
  source_line BIGINT NOT NULL,
  column_name TEXT,
  expectation TEXT NOT NULL,
  reason TEXT NOT NULL,
  raw_row TEXT NOT NULL,
  quarantined_at TIMESTAMP,
  PRIMARY KEY (dataset, source_file, source_line)
)""",
    "validation_runs": """CREATE TABLE IF NOT EXISTS validation_runs (
  run_id TEXT PRIMARY KEY,
  seq BIGINT NOT NULL,
  dataset TEXT NOT NULL,
  source_file TEXT NOT NULL,
  kind TEXT NOT NULL,
  as_of TIMESTAMP NOT NULL,
  rows BIGINT NOT NULL,
  valid BIGINT NOT NULL,
  quarantined BIGINT NOT NULL,
  success BOOLEAN NOT NULL,
  gate_failures TEXT,
  stats TEXT,
  docs_path TEXT
)""",
}

MODELING_TABLES = {
    "scores": """CREATE TABLE IF NOT EXISTS scores (
  customer_id TEXT NOT NULL,
  cutoff DATE NOT NULL,
  target TEXT NOT NULL,
  score DOUBLE PRECISION,
  model_name TEXT,
  model_version TEXT,
  reason_1 TEXT,
  reason_2 TEXT,
  reason_3 TEXT,
  scored_at TIMESTAMP,
  UNIQUE (customer_id, cutoff, target)
)""",
}

OUTREACH_TABLES = {
    "decisions": """CREATE TABLE IF NOT EXISTS decisions (
  send_key TEXT PRIMARY KEY,
  as_of DATE NOT NULL,
  customer_id TEXT NOT NULL,
  playbook TEXT NOT NULL,
  action TEXT NOT NULL,
  arm TEXT NOT NULL,
  holdout_kind TEXT,
  score DOUBLE PRECISION,
  uplift DOUBLE PRECISION,
  expected_value DOUBLE PRECISION,
  reasons TEXT,
  decided_at TIMESTAMP NOT NULL
)""",
    "send_ledger": """CREATE TABLE IF NOT EXISTS send_ledger (
  send_key TEXT PRIMARY KEY,
  customer_id TEXT NOT NULL,
  playbook TEXT NOT NULL,
  window_start DATE NOT NULL,
  state TEXT NOT NULL,
  message_id TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at TIMESTAMP NOT NULL,
  updated_at TIMESTAMP NOT NULL,
  send_at TIMESTAMP,
  claim_token TEXT,
  claimed_at TIMESTAMP,
  last_error TEXT
)""",
    "dead_letters": """CREATE TABLE IF NOT EXISTS dead_letters (
  send_key TEXT PRIMARY KEY,
  customer_id TEXT,
  playbook TEXT,
  status_code INTEGER,
  reason TEXT NOT NULL,
  created_at TIMESTAMP NOT NULL
)""",
    "cs_tasks": """CREATE TABLE IF NOT EXISTS cs_tasks (
  task_id TEXT PRIMARY KEY,
  as_of DATE NOT NULL,
  customer_id TEXT NOT NULL,
  playbook TEXT NOT NULL,
  priority INTEGER,
  expected_value DOUBLE PRECISION,
  score DOUBLE PRECISION,
  reasons TEXT,
  guidance TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at TIMESTAMP NOT NULL
)""",
    "suppressions": """CREATE TABLE IF NOT EXISTS suppressions (
  email_sha256 TEXT NOT NULL,
  customer_id TEXT,
  reason TEXT NOT NULL,
  source TEXT NOT NULL,
  created_at TIMESTAMP NOT NULL,
  PRIMARY KEY (email_sha256, reason)
)""",
}

RESPONSE_TABLES = {
    "email_events": """CREATE TABLE IF NOT EXISTS email_events (
  dedupe_key TEXT PRIMARY KEY,
  sg_event_id TEXT UNIQUE,
  send_key TEXT,
  customer_id TEXT,
  playbook TEXT,
  event TEXT NOT NULL,
  event_ts TIMESTAMP NOT NULL,
  email_sha256 TEXT,
  sg_message_id TEXT,
  reason TEXT,
  url TEXT,
  raw_id BIGINT,
  ingested_at TIMESTAMP NOT NULL
)""",
    "replies": """CREATE TABLE IF NOT EXISTS replies (
  reply_id TEXT PRIMARY KEY,
  send_key TEXT,
  customer_id TEXT,
  playbook TEXT,
  email_sha256 TEXT,
  sender_matches_send BOOLEAN,
  subject TEXT,
  body_text TEXT,
  is_auto BOOLEAN NOT NULL,
  is_stop BOOLEAN NOT NULL,
  spf TEXT,
  received_at TIMESTAMP NOT NULL,
  raw_id BIGINT,
  ingested_at TIMESTAMP NOT NULL
)""",
    "ratings": """CREATE TABLE IF NOT EXISTS ratings (
  send_key TEXT PRIMARY KEY,
  customer_id TEXT,
  playbook TEXT,
  score BIGINT NOT NULL,
  rated_at TIMESTAMP NOT NULL,
  raw_id BIGINT,
  ingested_at TIMESTAMP NOT NULL
)""",
    "response_quarantine": """CREATE TABLE IF NOT EXISTS response_quarantine (
  raw_id BIGINT NOT NULL,
  kind TEXT NOT NULL,
  item INTEGER NOT NULL,
  reason TEXT NOT NULL,
  created_at TIMESTAMP NOT NULL,
  PRIMARY KEY (raw_id, item)
)""",
}

MEASUREMENT_TABLES = {
    "impact_history": """CREATE TABLE IF NOT EXISTS impact_history (
  as_of DATE NOT NULL,
  playbook TEXT NOT NULL,
  outcome TEXT NOT NULL,
  n_treated BIGINT,
  n_holdout BIGINT,
  rate_treated DOUBLE PRECISION,
  rate_holdout DOUBLE PRECISION,
  diff DOUBLE PRECISION,
  ci_low DOUBLE PRECISION,
  ci_high DOUBLE PRECISION,
  kept DOUBLE PRECISION,
  kept_low DOUBLE PRECISION,
  kept_high DOUBLE PRECISION,
  measured_at TIMESTAMP NOT NULL,
  PRIMARY KEY (as_of, playbook, outcome)
)""",
}

# customer attributes beyond the contract (declared in a sources.yaml: model features) and snapshot labels
SOURCE_TABLES = {
    "customer_attributes": """CREATE TABLE IF NOT EXISTS customer_attributes (
  customer_id TEXT NOT NULL,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  value_num DOUBLE PRECISION,
  value_text TEXT,
  updated_at TIMESTAMP NOT NULL
)""",
    "customer_attribute_defs": """CREATE TABLE IF NOT EXISTS customer_attribute_defs (
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  reason TEXT,
  source TEXT,
  updated_at TIMESTAMP NOT NULL
)""",
    "customer_labels": """CREATE TABLE IF NOT EXISTS customer_labels (
  customer_id TEXT NOT NULL,
  label BOOLEAN NOT NULL,
  observed_at TIMESTAMP NOT NULL
)""",
}

V1_TABLES: dict[str, str] = {
    **{name: create_table_sql(ds) for name, ds in DATASETS.items()},
    **VALIDATION_TABLES,
    **MODELING_TABLES,
    **OUTREACH_TABLES,
    **RESPONSE_TABLES,
    **MEASUREMENT_TABLES,
}

# Optional contract columns added after version 1 (a warehouse created before them gains them empty).
LATER_COLUMNS = (
    ("customers", "locale", "TEXT"),
    ("customers", "owner", "TEXT"),
    ("usage_events", "value", "DOUBLE PRECISION"),
    ("usage_events", "event_id", "TEXT"),
    ("tickets", "subject", "TEXT"),
    ("tickets", "assignee", "TEXT"),
)

# Migration 4: who would work each decision (drawn before the holdout), p(treatment), a CS task's life on the desk.
DESK_COLUMNS = (
    ("decisions", "assignee", "TEXT"),
    ("decisions", "p_treat", "DOUBLE PRECISION"),
    ("decisions", "policy", "TEXT"),
    ("cs_tasks", "assignee", "TEXT"),
    ("cs_tasks", "due_date", "DATE"),
    ("cs_tasks", "outcome", "TEXT"),
    ("cs_tasks", "offer", "TEXT"),
    ("cs_tasks", "offer_value", "DOUBLE PRECISION"),
    ("cs_tasks", "notes", "TEXT"),
    ("cs_tasks", "closed_at", "TIMESTAMP"),
    ("cs_tasks", "closed_by", "TEXT"),
    ("cs_tasks", "snoozed_until", "DATE"),
    ("cs_tasks", "snooze_reason", "TEXT"),
    ("cs_tasks", "updated_at", "TIMESTAMP"),
)
DESK_TABLES = {
    "desk_people": """CREATE TABLE IF NOT EXISTS desk_people (
  username TEXT PRIMARY KEY,
  display_name TEXT NOT NULL,
  role TEXT NOT NULL,
  team TEXT,
  password_hash TEXT NOT NULL,
  active BOOLEAN NOT NULL,
  created_at TIMESTAMP NOT NULL
)""",
    "desk_audit": """CREATE TABLE IF NOT EXISTS desk_audit (
  audit_id TEXT PRIMARY KEY,
  created_at TIMESTAMP NOT NULL,
  actor TEXT NOT NULL,
  task_id TEXT,
  action TEXT NOT NULL,
  detail TEXT
)""",
    "desk_flags": """CREATE TABLE IF NOT EXISTS desk_flags (
  task_id TEXT PRIMARY KEY,
  customer_id TEXT NOT NULL,
  playbook TEXT NOT NULL,
  flagged_by TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_at TIMESTAMP NOT NULL
)""",
    "desk_approvals": """CREATE TABLE IF NOT EXISTS desk_approvals (
  approval_id TEXT PRIMARY KEY,
  task_id TEXT NOT NULL,
  requested_by TEXT NOT NULL,
  offer TEXT NOT NULL,
  offer_value DOUBLE PRECISION,
  state TEXT NOT NULL,
  decided_by TEXT,
  requested_at TIMESTAMP NOT NULL,
  decided_at TIMESTAMP
)""",
}

# the verdict of each policy check (measurement.policy_check): customers kept per email under each targeting policy
POLICY_TABLES = {
    "policy_checks": """CREATE TABLE IF NOT EXISTS policy_checks (
  as_of DATE NOT NULL PRIMARY KEY,
  checked_at TIMESTAMP NOT NULL,
  targeting TEXT NOT NULL,
  switch_to_uplift BOOLEAN NOT NULL,
  reason TEXT NOT NULL,
  n_logged BIGINT,
  n_explored BIGINT,
  risk_value DOUBLE PRECISION,
  risk_low DOUBLE PRECISION,
  risk_high DOUBLE PRECISION,
  uplift_value DOUBLE PRECISION,
  uplift_low DOUBLE PRECISION,
  uplift_high DOUBLE PRECISION,
  random_value DOUBLE PRECISION,
  random_low DOUBLE PRECISION,
  random_high DOUBLE PRECISION,
  diff DOUBLE PRECISION,
  diff_lower95 DOUBLE PRECISION,
  uplift_model_version TEXT
)""",
}

#: Every table of the product, in creation order: name -> DDL.
TABLES: dict[str, str] = {**V1_TABLES, **SOURCE_TABLES, **DESK_TABLES, **POLICY_TABLES}

VERSION_TABLE_DDL = """CREATE TABLE IF NOT EXISTS schema_version (
  version INTEGER PRIMARY KEY,
  description TEXT NOT NULL,
  applied_at TIMESTAMP NOT NULL
)"""


# ---------------------------------------------------------------------------------------------- migrations
@dataclass(frozen=True)
class Migration:
    """One step of the schema's history: statements run together, once, in order."""

    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "every table of the product", tuple(V1_TABLES.values())),
    Migration(
        2,
        "customer attributes and labels from source mappings; optional contract columns",
        tuple(SOURCE_TABLES.values())
        + tuple(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {c} {sql}" for t, c, sql in LATER_COLUMNS),
    ),
    Migration(
        3,
        "the subject/body variant drawn for each decision (measured on retention)",
        ("ALTER TABLE decisions ADD COLUMN IF NOT EXISTS variant TEXT",),
    ),
    Migration(
        4,
        "the desk: who works each decision, the probability of treatment, task outcomes, people, flags, approvals, audit",
        tuple(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {c} {sql}" for t, c, sql in DESK_COLUMNS)
        + tuple(DESK_TABLES.values()),
    ),
    Migration(
        5,
        "the policy check: off-policy estimates of risk, uplift and random targeting, and which one outreach uses",
        tuple(POLICY_TABLES.values()),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def current_version(wh: Warehouse) -> int:
    """The version recorded in the warehouse (0: never migrated)."""
    if not wh.table_exists("schema_version"):
        return 0
    return int(wh.scalar("SELECT coalesce(max(version), 0) FROM schema_version") or 0)


def _take_turns(wh: Warehouse) -> None:
    """Inside a transaction: wait for any other migration of this schema (PostgreSQL; released at commit)."""
    if wh.backend == "postgres":
        wh.execute(f"SELECT pg_advisory_xact_lock({_LOCK_CLASS}, hashtext(current_schema()))")


def _apply(wh: Warehouse, m: Migration) -> None:
    with wh.transaction():
        _take_turns(wh)
        if current_version(wh) >= m.version:  # another run applied it while we waited
            return
        for statement in m.statements:
            wh.execute(statement)
        wh.execute(
            "INSERT INTO schema_version (version, description, applied_at) VALUES (:v, :d, :t)",
            {"v": m.version, "d": m.description, "t": datetime.now(UTC).replace(tzinfo=None)},
        )


def _migrate(wh: Warehouse) -> int:
    version = current_version(wh)
    if version > SCHEMA_VERSION:
        raise WarehouseError(
            f"the warehouse schema is at version {version}, newer than this program's {SCHEMA_VERSION}: upgrade "
            "proactive-ml before running it against this warehouse"
        )
    if version == SCHEMA_VERSION:
        return version
    with wh.transaction():
        _take_turns(wh)
        wh.execute(VERSION_TABLE_DDL)
    for m in MIGRATIONS:
        _apply(wh, m)
    return current_version(wh)


def migrate(wh: Warehouse) -> int:
    """Apply every migration the warehouse has not seen yet, in order; returns the schema version.

    Cheap when nothing is pending (one lookup), so every flow and command calls it at its start.
    """
    if wh.backend == "duckdb":
        with _DUCKDB_LOCK:
            return _migrate(wh)
    return _migrate(wh)


def open_warehouse(url: str) -> Warehouse:
    """Connect to the warehouse at ``url`` and migrate it: how CLI commands and flows open the warehouse."""
    wh = Warehouse.connect(url)
    try:
        migrate(wh)
    except BaseException:
        wh.close()
        raise
    return wh
