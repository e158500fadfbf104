"""Settings: typed, frozen, prefixed; misspellings fail loudly; other tools' variables are ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from proactive_ml.errors import UserError
from proactive_ml.settings import Settings, get_settings, unknown_keys


def test_frozen_and_typed(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        s.seed = 1  # type: ignore[misc]
    assert s.resolved_warehouse_url == f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    assert s.resolved_mlflow_uri.startswith("sqlite:///")
    assert "SG." in s.sendgrid_api_key.get_secret_value()
    assert "SG." not in repr(s)
    assert not tmp_path.joinpath("warehouse.duckdb").exists()  # nothing is created by reading settings


def test_environment_overrides_and_misspellings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROACTIVE_DAILY_BUDGET", "17")
    monkeypatch.setenv("SOME_OTHER_TOOL", "x")
    assert get_settings().daily_budget == 17
    (tmp_path / ".env").write_text("PROACTIVE_DAILY_BUDGTE=3\nUNRELATED=1\n")
    assert unknown_keys({}, tmp_path / ".env") == ["PROACTIVE_DAILY_BUDGTE"]
    with pytest.raises(UserError, match="PROACTIVE_DAILY_BUDGTE"):
        get_settings()
    with pytest.raises(ValidationError):
        Settings(daily_budget=-1, _env_file=None)  # type: ignore[call-arg]
