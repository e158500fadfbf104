"""One typed, frozen settings object. Local defaults and production differ only here.

Every value can be set by an environment variable with the ``PROACTIVE_`` prefix (``PROACTIVE_WAREHOUSE_URL``,
``PROACTIVE_SENDGRID_API_KEY`` ...) or in a ``.env`` file. Nothing happens at import time: call
:func:`get_settings` (or build ``Settings(...)``) and pass the object down.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """All configuration of proactive-ml. A misspelled ``PROACTIVE_*`` key fails at start (see get_settings)."""

    model_config = SettingsConfigDict(
        env_prefix="PROACTIVE_", env_file=".env", extra="ignore", frozen=True, validate_default=True
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
    sendgrid_api_key: SecretStr = SecretStr("SG.local-sink-key")
    sendgrid_host: str = Field(
        "", description="Default: the local mail sink. Production: https://api.sendgrid.com"
    )
    sendgrid_sandbox_mode: bool = False
    sendgrid_asm_group_id: int = 1
    sender_email: str = "care@example.com"
    sender_name: str = "The Example Team"
    postal_address: str = "Example Inc., 1 Main Street, Springfield, USA"
    public_base_url: str = Field("http://127.0.0.1:8025", description="Where unsubscribe/rating links point.")
    signing_secret: SecretStr = SecretStr("local-dev-signing-secret-change-me")
    holdout_salt: str = "proactive-holdout-v1"
    global_holdout_share: float = Field(0.05, ge=0, le=1)
    playbook_holdout_share: float = Field(0.10, ge=0, le=1)
    frequency_cap_days: int = Field(14, ge=1)
    daily_budget: int = Field(500, ge=0)
    quiet_hours_start: int = Field(21, ge=0, le=23)
    quiet_hours_end: int = Field(8, ge=0, le=23)

    # --- receiver ----------------------------------------------------------------------------------------
    webhook_public_key: str = Field("", description="SendGrid Signed Event Webhook public key (base64 DER).")
    inbound_secret: SecretStr = SecretStr("local-inbound-secret")
    webhook_replay_window_seconds: int = 600

    # --- orchestration -----------------------------------------------------------------------------------
    task_runner: str = Field("thread", pattern="^(thread|dask)$")
    partitions: int = Field(4, ge=1)
    seed: int = 42

    # --- derived paths -----------------------------------------------------------------------------------
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
        return self.data_dir / "landing"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def data_docs_dir(self) -> Path:
        return self.data_dir / "data_docs"


def unknown_keys(environ: dict[str, str], env_file: Path = Path(".env")) -> list[str]:
    """``PROACTIVE_*`` names in the environment or ``.env`` that are not settings (typos, removed settings)."""
    names = set(environ)
    if env_file.is_file():
        from dotenv import dotenv_values

        names |= {k for k in dotenv_values(env_file) if k}
    known = {f"PROACTIVE_{f.upper()}" for f in Settings.model_fields}
    return sorted(
        n
        for n in names
        if n.upper().startswith("PROACTIVE_")
        and n.upper() not in known
        and not n.upper().startswith("PROACTIVE_TEST_")
        and n.upper() != "PROACTIVE_REQUIRE_POSTGRES"
        and n.upper() != "PROACTIVE_PROJECT_DIR"
    )


def get_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and ``.env``), with explicit overrides on top.

    Other tools' variables are ignored; an unknown ``PROACTIVE_*`` name is an error that names it.
    """
    import os

    from proactive_ml.errors import UserError

    unknown = unknown_keys(dict(os.environ))
    if unknown:
        raise UserError(f"unknown setting(s) {unknown}: see .env.example for the PROACTIVE_* names")
    return Settings(**overrides)  # type: ignore[arg-type]
