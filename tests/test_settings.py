"""Settings: typed, frozen, prefixed; unknown names refused; production refuses the shipped defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from proactive_ml.errors import UserError
from proactive_ml.settings import TOOLING_VARIABLES, Settings, get_settings, is_loopback_url

PRODUCTION = {
    "env": "production",
    "signing_secret": SecretStr("a-long-random-signing-secret"),
    "inbound_secret": SecretStr("a-long-random-inbound-secret"),
    "desk_secret": SecretStr("a-long-random-desk-secret"),
    "sendgrid_api_key": SecretStr("SG.real-key"),
    "webhook_public_key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE",
    "sendgrid_host": "https://api.sendgrid.com",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No PROACTIVE_* variables but the tooling ones, and a working directory without a .env file."""
    for name in os.environ:
        if name.upper().startswith("PROACTIVE_") and name.upper() not in TOOLING_VARIABLES:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_frozen_and_typed(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        s.seed = 1  # type: ignore[misc]
    assert s.resolved_warehouse_url == f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    assert s.resolved_mlflow_uri.startswith("sqlite:///")
    assert "SG." in s.sendgrid_api_key.get_secret_value()
    assert "SG." not in repr(s)
    assert not tmp_path.joinpath("warehouse.duckdb").exists()  # nothing is created by reading settings


def test_local_default_needs_no_configuration(clean_env: Path) -> None:
    s = get_settings()
    assert s.env == "local"
    assert s.sendgrid_api_host == "http://127.0.0.1:3025"  # the local mail sink
    assert not s.uses_real_sendgrid
    assert s.webhook_public_key == ""


def test_environment_overrides_and_other_tools(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    monkeypatch.setenv("PROACTIVE_DAILY_BUDGET", "17")
    monkeypatch.setenv("SOME_OTHER_TOOL", "x")
    for name in TOOLING_VARIABLES:  # read by tests and tooling only: declared, so accepted
        monkeypatch.setenv(name, "1")
    (clean_env / ".env").write_text("PROACTIVE_SEED=7\nUNRELATED=1\n")
    s = get_settings()
    assert (s.daily_budget, s.seed) == (17, 7)


@pytest.mark.parametrize("where", ["environment", ".env"])
def test_unknown_variable_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path, where: str
) -> None:
    if where == "environment":
        monkeypatch.setenv("PROACTIVE_DAILY_BUDGTE", "3")
    else:
        (clean_env / ".env").write_text("PROACTIVE_DAILY_BUDGTE=3\nUNRELATED=1\n")
    with pytest.raises(UserError, match=r"^unknown setting PROACTIVE_DAILY_BUDGTE: see \.env\.example"):
        get_settings()
    with pytest.raises(ValidationError, match="PROACTIVE_DAILY_BUDGTE"):  # Settings() itself refuses it
        Settings()


def test_bad_values_and_misspelled_overrides_name_the_variable(clean_env: Path) -> None:
    with pytest.raises(UserError, match=r"PROACTIVE_DAILY_BUDGET=-1: Input should be greater"):
        get_settings(daily_budget=-1)
    with pytest.raises(UserError, match="unknown setting PROACTIVE_DIALY_BUDGET"):
        get_settings(dialy_budget=3)
    with pytest.raises(UserError, match="PROACTIVE_ENV='staging'"):
        get_settings(env="staging")


def test_production_with_own_settings_loads(clean_env: Path) -> None:
    s = get_settings(**PRODUCTION)
    assert s.env == "production"
    assert s.uses_real_sendgrid
    assert s.sendgrid_api_host == "https://api.sendgrid.com"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"signing_secret": SecretStr("local-dev-signing-secret-change-me")},
            "PROACTIVE_SIGNING_SECRET is the shipped default",
        ),
        (
            {"inbound_secret": SecretStr("local-inbound-secret")},
            "PROACTIVE_INBOUND_SECRET is the shipped default",
        ),
        (
            {"desk_secret": SecretStr("local-desk-session-secret-change-me")},
            "PROACTIVE_DESK_SECRET is the shipped default",
        ),
        (
            {"sendgrid_api_key": SecretStr("SG.local-sink-key")},
            "PROACTIVE_SENDGRID_API_KEY is the shipped default",
        ),
        ({"webhook_public_key": " "}, "PROACTIVE_WEBHOOK_PUBLIC_KEY is empty"),
        ({"sendgrid_host": ""}, "PROACTIVE_SENDGRID_HOST is empty"),
        (
            {"sendgrid_host": "http://127.0.0.1:3025"},
            "PROACTIVE_SENDGRID_HOST=http://127.0.0.1:3025 is a local sink",
        ),
        ({"sendgrid_host": "http://localhost:3025/"}, "is a local sink"),
        ({"sendgrid_host": "http://[::1]:3025"}, "is a local sink"),
    ],
)
def test_production_refuses_each_local_default_with_one_line(
    clean_env: Path, change: dict[str, object], reason: str
) -> None:
    with pytest.raises(UserError) as info:
        get_settings(**{**PRODUCTION, **change})
    lines = str(info.value).splitlines()
    assert lines[0] == "PROACTIVE_ENV=production refuses:"
    assert len(lines) == 2  # exactly one reason, on one line
    assert reason in lines[1]
    assert "local-dev" not in str(info.value)  # a secret is named, never shown
    assert get_settings(**{**PRODUCTION, **change, "env": "local"}).env == "local"  # local keeps the demo


def test_sendgrid_is_recognised_by_host_name_only() -> None:
    def real(host: str) -> bool:
        return Settings(sendgrid_host=host, _env_file=None).uses_real_sendgrid  # type: ignore[call-arg]

    assert real("https://api.sendgrid.com")
    assert real("https://api.eu.sendgrid.com/")
    assert not real("")
    assert not real("http://127.0.0.1:41234")
    assert not real("http://mail-sink:3025/sendgrid.com")
    assert not real("https://sendgrid.com.example.org")
    assert is_loopback_url("http://0.0.0.0:3025")
    assert not is_loopback_url("https://api.sendgrid.com")


def test_production_serve_with_default_secrets_exits_at_once_with_reasons(clean_env: Path) -> None:
    cli = Path(sys.executable).with_name("proactive-ml")
    env = {**os.environ, "PROACTIVE_ENV": "production", "PROACTIVE_DATA_DIR": str(clean_env / "data")}
    r = subprocess.run(
        [str(cli), "serve", "--port", "0"],
        cwd=clean_env,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 2  # a mistake in the settings: the user's to fix
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("error: PROACTIVE_ENV=production refuses:")
    assert "PROACTIVE_SIGNING_SECRET is the shipped default" in r.stderr
    assert "PROACTIVE_WEBHOOK_PUBLIC_KEY is empty" in r.stderr
    assert "receiver on" not in r.stdout  # refused before anything starts
    assert not (clean_env / "data").exists()


def test_env_example_names_only_settings_and_tooling_variables(clean_env: Path) -> None:
    example = Path(__file__).resolve().parents[1] / ".env.example"
    lines = [x.lstrip("# ").split("#")[0].strip() for x in example.read_text().splitlines()]
    assignments = [x for x in lines if x.startswith("PROACTIVE_") and "=" in x]
    assert len(assignments) > 15
    (clean_env / ".env").write_text("\n".join(a for a in assignments if not a.startswith("PROACTIVE_ENV")))
    s = get_settings()  # every name is known, and every example value parses
    assert s.task_runner == "dask"


def test_a_company_can_point_at_its_own_playbooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from proactive_ml.cli import main
    from proactive_ml.settings import PROJECT_ROOT

    spec = yaml.safe_load((PROJECT_ROOT / "models" / "playbooks.yaml").read_text(encoding="utf-8"))
    spec["playbooks"][1]["name"] = "our_own_playbook"
    ours = tmp_path / "ours.yaml"
    ours.write_text(yaml.safe_dump(spec), encoding="utf-8")
    monkeypatch.setenv("PROACTIVE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PROACTIVE_PLAYBOOKS_FILE", str(ours))
    assert main(["preview", "our_own_playbook", "--customer", "C1"]) == 2
    assert "no customer 'C1'" in capsys.readouterr().err  # the playbook was found in our file
    monkeypatch.setenv("PROACTIVE_PLAYBOOKS_FILE", str(tmp_path / "missing.yaml"))
    assert main(["preview", "our_own_playbook", "--customer", "C1"]) == 2
    assert "PROACTIVE_PLAYBOOKS_FILE" in capsys.readouterr().err
