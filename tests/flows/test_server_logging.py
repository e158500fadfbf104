"""The demo's Prefect temporary server: its logging config is Prefect's own plus a quiet SQLAlchemy pool."""

from __future__ import annotations

import os
from pathlib import Path

import prefect.logging
import pytest
import yaml
from prefect.logging.configuration import load_logging_config

from flows.common import quiet_temporary_server_shutdown

PREFECT_DEFAULT = Path(prefect.logging.__file__).with_name("logging.yml")


def test_the_config_is_prefects_own_with_the_pool_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_LOGGING_SETTINGS_PATH", raising=False)
    path = quiet_temporary_server_shutdown()
    assert path is not None
    assert path.exists()
    assert os.environ["PREFECT_LOGGING_SETTINGS_PATH"] == str(path)  # the server subprocess inherits it
    ours, default = yaml.safe_load(path.read_text()), yaml.safe_load(PREFECT_DEFAULT.read_text())
    assert ours["loggers"].pop("sqlalchemy.pool") == {"level": "CRITICAL"}
    assert ours == default  # nothing else changed: flow-run logs still reach the API, the console as before
    loaded = load_logging_config(path)  # as Prefect reads it (settings substituted)
    assert loaded["loggers"]["sqlalchemy.pool"]["level"] == "CRITICAL"
    assert loaded["handlers"].keys() == load_logging_config(PREFECT_DEFAULT)["handlers"].keys()
    path.unlink()


def test_a_config_the_user_chose_is_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    mine = tmp_path / "logging.yml"
    monkeypatch.setenv("PREFECT_LOGGING_SETTINGS_PATH", str(mine))
    assert quiet_temporary_server_shutdown() is None
    assert os.environ["PREFECT_LOGGING_SETTINGS_PATH"] == str(mine)
