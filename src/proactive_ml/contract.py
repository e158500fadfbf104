"""The data contract: the datasets a company brings, their columns, types and keys.

Used by ingestion (parsing and typing), validation (the GX suites are reviewed against it), the simulated world
(which writes files that follow it) and the README. One place, so the four never disagree.

Types are logical: ``string``, ``int``, ``float``, ``bool``, ``date``, ``timestamp`` (naive UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PLANS = ("free", "starter", "pro", "enterprise")  # the simulated worlds' plans; `plan` is free text
SURVEY_TYPES = ("NPS", "CSAT")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_STATUSES = ("open", "pending", "solved", "closed")
TICKET_CATEGORIES = ("billing", "bug", "how_to", "integration", "performance", "account")
FEATURES = (
    "login",
    "dashboard_view",
    "report_export",
    "api_call",
    "invite_user",
    "integration_sync",
    "alert_config",
    "search",
    "comment",
    "file_upload",
)

SQL_TYPES = {
    "string": "TEXT",
    "int": "BIGINT",
    "float": "DOUBLE PRECISION",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}


@dataclass(frozen=True)
class Column:
    """One column of a dataset."""

    name: str
    type: str
    required: bool = True
    description: str = ""
    default: str | None = None  # text filled in where a file leaves the column out or empty


@dataclass(frozen=True)
class Dataset:
    """One incoming dataset: its columns, natural key and the column that dates a row."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    time_column: str
    foreign_keys: dict[str, str] = field(default_factory=dict)  # column -> "table.column"
    upsert: bool = False  # True: a newer row with the same key replaces the old one (customers)

    @property
    def column_names(self) -> list[str]:
        """The column names, in contract order."""
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        """The columns that must not be empty."""
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        """The column called ``name``.

        Raises:
            KeyError: The dataset has no such column.
        """
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


CUSTOMERS = Dataset(
    name="customers",
    description="One row per customer account; a later file with the same customer_id replaces the row.",
    columns=(
        Column("customer_id", "string", description="Stable account id (natural key)."),
        Column(
            "email",
            "string",
            required=False,
            description="Contact address (PII); needed only by email playbooks.",
        ),
        Column("name", "string", required=False, description="Contact's display name (PII)."),
        Column("plan", "string", required=False, description="Plan or tier, free text."),
        Column(
            "signup_date",
            "date",
            description="Date the account was created (a source mapping may derive it from the first event).",
        ),
        Column("country", "string", required=False, description="ISO 3166-1 alpha-2 country code."),
        Column(
            "timezone",
            "string",
            required=False,
            description="IANA time zone, e.g. Europe/Berlin (quiet hours).",
        ),
        Column(
            "monthly_revenue", "float", required=False, description="Current monthly recurring revenue, >= 0."
        ),
        Column(
            "marketing_consent",
            "bool",
            required=False,
            description="True if the customer agreed to proactive email; empty = unknown = no proactive email.",
        ),
        Column(
            "cancelled_at",
            "timestamp",
            required=False,
            description="When the account churned; empty if active.",
        ),
        Column("locale", "string", required=False, description="Language of messages, e.g. de-DE."),
        Column("owner", "string", required=False, description="The account's customer-success owner."),
    ),
    key=("customer_id",),
    time_column="signup_date",
    upsert=True,
)

USAGE_EVENTS = Dataset(
    name="usage_events",
    description="Product usage or purchases: one row per (customer, time, feature) with a count and a value.",
    columns=(
        Column("customer_id", "string", description="Customer who used the product."),
        Column("ts", "timestamp", description="When (UTC)."),
        Column("feature", "string", description="Event or feature name."),
        Column(
            "quantity", "int", required=False, default="1", description="How many times, >= 0 (default 1)."
        ),
        Column(
            "value", "float", required=False, description="Money the event carried (e.g. a purchase amount)."
        ),
        Column(
            "event_id",
            "string",
            required=False,
            description="Source event id (when a mapping keys events by id instead of aggregating them).",
        ),
    ),
    key=("customer_id", "ts", "feature"),
    time_column="ts",
    foreign_keys={"customer_id": "customers.customer_id"},
)

FEEDBACK = Dataset(
    name="feedback",
    description="Survey answers: NPS (0-10) and CSAT (1-5), with an optional comment.",
    columns=(
        Column("feedback_id", "string", description="Survey response id (natural key)."),
        Column("customer_id", "string", description="Customer who answered."),
        Column("survey_type", "string", description="NPS or CSAT."),
        Column("ts", "timestamp", description="When the answer was given (UTC)."),
        Column("score", "int", description="NPS 0-10 or CSAT 1-5."),
        Column("comment", "string", required=False, description="Free text, may be empty."),
    ),
    key=("feedback_id",),
    time_column="ts",
    foreign_keys={"customer_id": "customers.customer_id"},
)

TICKETS = Dataset(
    name="tickets",
    description="Support tickets; a later file with the same ticket_id replaces the row (status changes).",
    columns=(
        Column("ticket_id", "string", description="Ticket id (natural key)."),
        Column("customer_id", "string", description="Customer who opened it."),
        Column("opened_at", "timestamp", description="When it was opened (UTC)."),
        Column("closed_at", "timestamp", required=False, description="When it was closed; empty while open."),
        Column("priority", "string", description=f"One of {', '.join(TICKET_PRIORITIES)}."),
        Column("category", "string", description=f"One of {', '.join(TICKET_CATEGORIES)}."),
        Column("status", "string", description=f"One of {', '.join(TICKET_STATUSES)}."),
        Column("subject", "string", required=False, description="Ticket subject line (may hold PII)."),
        Column("assignee", "string", required=False, description="Support agent the ticket is assigned to."),
    ),
    key=("ticket_id",),
    time_column="opened_at",
    foreign_keys={"customer_id": "customers.customer_id"},
    upsert=True,
)

DATASETS: dict[str, Dataset] = {d.name: d for d in (CUSTOMERS, USAGE_EVENTS, FEEDBACK, TICKETS)}
# A company may bring only these; feedback and tickets are optional datasets (absent = fine).
REQUIRED_DATASETS: tuple[str, ...] = ("customers", "usage_events")
# Order matters for ingestion: customers first, so foreign keys of the same landing folder resolve.
INGEST_ORDER: tuple[str, ...] = ("customers", "usage_events", "feedback", "tickets")


def create_table_sql(dataset: Dataset) -> str:
    """DDL for a raw table, portable between DuckDB and PostgreSQL."""
    cols = ",\n  ".join(f"{c.name} {SQL_TYPES[c.type]}" for c in dataset.columns)
    return f"CREATE TABLE IF NOT EXISTS {dataset.name} (\n  {cols}\n)"


def markdown_table(dataset: Dataset) -> str:
    """The dataset as a Markdown table for the README."""
    lines = [
        f"**{dataset.name}** — {dataset.description} Key: `{', '.join(dataset.key)}`.",
        "",
        "| column | type | required | meaning |",
        "|---|---|---|---|",
    ]
    for c in dataset.columns:
        lines.append(f"| `{c.name}` | {c.type} | {'yes' if c.required else 'no'} | {c.description} |")
    return "\n".join(lines)
