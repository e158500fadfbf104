"""One typed, frozen settings object. Local defaults and production differ only here.

Every value can be set by an environment variable with the ``PROACTIVE_`` prefix (``PROACTIVE_WAREHOUSE_URL``,
``PROACTIVE_SENDGRID_API_KEY`` ...) or in a ``.env`` file. Nothing happens at import time: call
:func:`get_settings` (or build ``Settings(...)``) and pass the object down.

- An unknown ``PROACTIVE_*`` name (a typo, a removed setting) is refused when the settings load; the few variables
  read only by tests and tooling are declared in :data:`TOOLING_VARIABLES`.
- ``PROACTIVE_ENV=local`` (default) is the zero-configuration demo: embedded DuckDB, SQLite MLflow, the local mail
  sink and shipped development secrets. ``PROACTIVE_ENV=production`` refuses those defaults, one line per reason.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from proactive_ml.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PREFIX = "PROACTIVE_"
LOCAL_SINK_URL = "http://127.0.0.1:3025"  # `proactive-ml mail-sink` default address
SENDGRID_DOMAIN = "sendgrid.com"

# Read by tests and tooling, never by the product: allowed in the environment, not settings.
TOOLING_VARIABLES = {
    "PROACTIVE_TEST_PG_URL": "tests: the PostgreSQL server of the dual-backend tests",
    "PROACTIVE_REQUIRE_POSTGRES": "tests/CI: 1 = fail instead of reporting PostgreSQL tests as not run",
    "PROACTIVE_PROJECT_DIR": "prefect.yaml: the checkout a deployment runs from",
}

# The shipped development values that production refuses.
DEFAULT_SENDGRID_API_KEY = "SG.local-sink-key"
DEFAULT_SIGNING_SECRET = "local-dev-signing-secret-change-me"  # noqa: S105 - development default, refused in production
DEFAULT_INBOUND_SECRET = "local-inbound-secret"  # noqa: S105 - development default, refused in production
DEFAULT_DESK_SECRET = "local-desk-session-secret-change-me"  # noqa: S105 - development default, refused in production


class Settings(BaseSettings):
    """All configuration of proactive-ml. A misspelled ``PROACTIVE_*`` name fails at load."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_file=".env", extra="forbid", frozen=True, validate_default=True
    )

    env: Literal["local", "production"] = Field(
        "local", description="local: zero-configuration demo; production: refuses the shipped defaults."
    )

    # --- where things live -------------------------------------------------------------------------------
    data_dir: Path = Field(
        PROJECT_ROOT / "data", description="Root of all local state (warehouse, mlruns, outbox)."
    )
    warehouse_url: str = Field(
        "", description="duckdb:///path/file.duckdb (embedded default) or postgresql://user@host:5432/db"
    )
    sources_file: str = Field(
        "",
        description="A sources.yaml mapping a company's files to the contract (empty: the landing-folder "
        "convention, one sub-folder per dataset).",
    )
    playbooks_file: str = Field(
        "",
        description="A playbooks YAML: which customers get which action and what a person may offer (empty: "
        "models/playbooks.yaml). A company whose data has no usage, tickets or surveys writes its own.",
    )
    templates_dir: str = Field(
        "",
        description="A folder of the company's own email templates and words.yaml: each file there replaces the "
        "shipped file of the same name in templates/email, the rest stay (empty: the shipped templates).",
    )
    shared_data_dir: Path = Field(
        PROJECT_ROOT.parent / "shared" / "data",
        description="Public data sets used by bench/ and real-data checks.",
    )

    # --- MLflow ------------------------------------------------------------------------------------------
    mlflow_tracking_uri: str = Field("", description="Default: sqlite:///<data_dir>/mlflow.db")
    mlflow_artifact_root: str = Field("", description="Default: <data_dir>/mlartifacts")
    model_name_prefix: str = "proactive"

    # --- validation --------------------------------------------------------------------------------------
    quarantine_max_share: float = Field(0.02, ge=0, le=1, description="Batch fails closed above this share.")

    # --- outreach ----------------------------------------------------------------------------------------
    sendgrid_api_key: SecretStr = SecretStr(DEFAULT_SENDGRID_API_KEY)
    sendgrid_host: str = Field(
        "", description="Default: the local mail sink. Production: https://api.sendgrid.com"
    )
    sendgrid_sandbox_mode: bool = False
    sendgrid_asm_group_id: int = 1
    sender_email: str = "care@example.com"
    sender_name: str = "The Example Team"
    postal_address: str = "Example Inc., 1 Main Street, Springfield, USA"
    public_base_url: str = Field("http://127.0.0.1:8025", description="Where unsubscribe/rating links point.")
    company_name: str = Field("Example", description="The company named in emails (brand).")
    reply_to_email: str = Field("help@example.com", description="Reply-To of every email ('' for none).")
    help_centre_url: str = Field(
        "https://help.example.com", description="Help-centre link in emails ('': none)."
    )
    logo_url: str = Field("", description="Logo image URL shown atop emails ('': no logo).")
    signing_secret: SecretStr = SecretStr(DEFAULT_SIGNING_SECRET)
    holdout_salt: str = "proactive-holdout-v1"
    global_holdout_share: float = Field(0.05, ge=0, le=1)
    playbook_holdout_share: float = Field(0.10, ge=0, le=1)
    frequency_cap_days: int = Field(14, ge=1)
    daily_budget: int = Field(500, ge=0)
    quiet_hours_start: int = Field(21, ge=0, le=23)
    quiet_hours_end: int = Field(8, ge=0, le=23)

    # --- receiver ----------------------------------------------------------------------------------------
    webhook_public_key: str = Field("", description="SendGrid Signed Event Webhook public key (base64 DER).")
    inbound_secret: SecretStr = SecretStr(DEFAULT_INBOUND_SECRET)
    webhook_replay_window_seconds: int = 600

    # --- the desk (web pages for customer-success people) --------------------------------------------------
    desk_secret: SecretStr = Field(
        SecretStr(DEFAULT_DESK_SECRET), description="Signs the desk's session cookies (long and random)."
    )
    desk_session_hours: int = Field(8, ge=1, le=24, description="A desk login expires after this many hours.")

    # --- orchestration -----------------------------------------------------------------------------------
    task_runner: str = Field("thread", pattern="^(thread|dask)$")
    partitions: int = Field(4, ge=1)
    seed: int = 42

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The usual sources, plus one that hands unknown ``PROACTIVE_*`` names to ``extra="forbid"``."""
        assert isinstance(env_settings, EnvSettingsSource)  # noqa: S101 - pydantic-settings' contract
        assert isinstance(dotenv_settings, DotEnvSettingsSource)  # noqa: S101
        return (
            init_settings,
            env_settings,
            _SettingsOnly(dotenv_settings),
            _UnknownVariables(settings_cls, env_settings, dotenv_settings),
            file_secret_settings,
        )

    @model_validator(mode="after")
    def _production_refuses_local_defaults(self) -> Settings:
        problems = production_problems(self) if self.env == "production" else []
        if problems:
            raise ValueError("PROACTIVE_ENV=production refuses:\n" + "\n".join(f"  {p}" for p in problems))
        return self

    # --- derived values ----------------------------------------------------------------------------------
    @property
    def sendgrid_api_host(self) -> str:
        """The Mail Send API host: ``sendgrid_host``, or the local mail sink when it is empty."""
        return (self.sendgrid_host or LOCAL_SINK_URL).rstrip("/")

    @property
    def uses_real_sendgrid(self) -> bool:
        """True when mail goes to SendGrid itself (``*.sendgrid.com``), False for a SendGrid-compatible sink.

        Decided here only: the sink answers an authoritative lookup of accepted send keys, SendGrid does not.
        """
        host = (urlparse(self.sendgrid_api_host).hostname or "").lower()
        return host == SENDGRID_DOMAIN or host.endswith("." + SENDGRID_DOMAIN)

    @property
    def resolved_warehouse_url(self) -> str:
        """The warehouse URL, defaulting to an embedded DuckDB file under ``data_dir``."""
        return self.warehouse_url or f"duckdb:///{self.data_dir / 'warehouse.duckdb'}"

    @property
    def resolved_mlflow_uri(self) -> str:
        """The MLflow tracking URI, defaulting to a SQLite file under ``data_dir``."""
        return self.mlflow_tracking_uri or f"sqlite:///{self.data_dir / 'mlflow.db'}"

    @property
    def resolved_artifact_root(self) -> str:
        """Where MLflow stores artifacts by default."""
        return self.mlflow_artifact_root or str(self.data_dir / "mlartifacts")

    @property
    def landing_dir(self) -> Path:
        """Where company files arrive."""
        return self.data_dir / "landing"

    @property
    def outbox_dir(self) -> Path:
        """Where the local mail sink writes accepted messages."""
        return self.data_dir / "outbox"

    @property
    def reports_dir(self) -> Path:
        """Where reports and task exports are written."""
        return self.data_dir / "reports"

    @property
    def data_docs_dir(self) -> Path:
        """Where the GX Data Docs site is built."""
        return self.data_dir / "data_docs"


def is_loopback_url(url: str) -> bool:
    """True for a URL whose host is this machine (``localhost``, 127.0.0.0/8, ``::1``, ``0.0.0.0``)."""
    host = (urlparse(url if "//" in url else f"//{url}").hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def production_problems(s: Settings) -> list[str]:
    """Why these settings are not fit for production, one line per reason (empty: fit)."""
    problems = [
        f"{PREFIX}{name.upper()} is the shipped default: {fix}"
        for name, default, fix in (
            ("signing_secret", DEFAULT_SIGNING_SECRET, "set a long random secret of your own"),
            ("inbound_secret", DEFAULT_INBOUND_SECRET, "set a long random secret of your own"),
            ("desk_secret", DEFAULT_DESK_SECRET, "set a long random secret of your own"),
            ("sendgrid_api_key", DEFAULT_SENDGRID_API_KEY, "set your SendGrid API key"),
        )
        if getattr(s, name).get_secret_value() == default
    ]
    if not s.webhook_public_key.strip():
        problems.append(
            "PROACTIVE_WEBHOOK_PUBLIC_KEY is empty: set SendGrid's Signed Event Webhook verification key"
        )
    if not s.sendgrid_host:
        problems.append(
            "PROACTIVE_SENDGRID_HOST is empty (the local mail sink): set https://api.sendgrid.com"
        )
    elif is_loopback_url(s.sendgrid_host):
        problems.append(
            f"PROACTIVE_SENDGRID_HOST={s.sendgrid_host} is a local sink: set https://api.sendgrid.com"
        )
    return problems


class _SettingsOnly(PydanticBaseSettingsSource):
    """The ``.env`` source, keeping settings only: other tools may share the file (unknown names: see below)."""

    def __init__(self, dotenv: DotEnvSettingsSource) -> None:
        super().__init__(dotenv.settings_cls)
        self.dotenv = dotenv

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        """Unused: values come from the wrapped source in ``__call__``."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """The wrapped source's values whose names are settings."""
        return {k: v for k, v in self.dotenv().items() if k in self.settings_cls.model_fields}


class _UnknownVariables(PydanticBaseSettingsSource):
    """``PROACTIVE_*`` names in the environment or ``.env`` that are neither settings nor tooling variables.

    They are returned under their full name, so ``extra="forbid"`` refuses them with the name in the error.
    """

    def __init__(
        self, settings_cls: type[BaseSettings], env: EnvSettingsSource, dotenv: DotEnvSettingsSource
    ) -> None:
        super().__init__(settings_cls)
        self.names = [*env.env_vars, *dotenv.env_vars]

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        """Unused: this source reports names, not values."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """``{full name: ""}`` for every unknown ``PROACTIVE_*`` name."""
        known = {f"{PREFIX}{f}".upper() for f in self.settings_cls.model_fields} | set(TOOLING_VARIABLES)
        return {n.upper(): "" for n in self.names if n.upper().startswith(PREFIX) and n.upper() not in known}


def describe(error: ValidationError) -> str:
    """A person's message for refused settings: one line per problem, each naming its variable."""
    lines = []
    for e in error.errors():
        name = str(e["loc"][0]).upper() if e["loc"] else ""
        var = name if name.startswith(PREFIX) else f"{PREFIX}{name}" if name else ""
        if e["type"] == "extra_forbidden":
            lines.append(f"unknown setting {var}: see .env.example for the PROACTIVE_* names")
        elif e["type"] == "value_error" and not var:
            lines.append(str(e["ctx"]["error"]))
        else:
            field = Settings.model_fields.get(name[len(PREFIX) :].lower())
            secret = field is not None and field.annotation is SecretStr
            shown = "" if secret or not var else f"={e['input']!r}"  # never echo a secret
            lines.append(f"{var}{shown}: {e['msg']}" if var else e["msg"])
    return "\n".join(lines)


def get_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and ``.env``), with explicit overrides on top.

    Other tools' variables are ignored; an unknown ``PROACTIVE_*`` name, a bad value or (in production) a shipped
    default is a :class:`UserError` that names the variable (the CLI prints it without a traceback).
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise UserError(describe(exc)) from None
