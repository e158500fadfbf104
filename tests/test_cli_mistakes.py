"""Twenty-odd common user mistakes through the CLI: each exits 2 with one line naming what to fix, no traceback.

In-process (``main(argv)``), on one empty data folder; ``make demo`` users meet exactly these messages.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from proactive_ml.cli import build_parser, main

# (command line, extra PROACTIVE_* settings, text the one line must contain)
MISTAKES: list[tuple[list[str], dict[str, str], str]] = [
    (["trian"], {}, "did you mean 'train'?"),
    (["quarantine", "lst"], {}, "did you mean 'list'?"),
    (["tasks"], {}, "proactive-ml tasks: error: the following arguments are required: ACTION"),
    (["train", "--as_of", "2026-01-01"], {}, "did you mean --as-of?"),
    (["score", "--targt", "churn"], {}, "did you mean --target?"),
    (["train", "--label", "inactivty"], {}, "did you mean 'inactivity'?"),
    (["train", "--as-of", "2026-13-01"], {}, "--as-of: '2026-13-01' is not a date"),
    (["score", "--as-of", "2026-02-30"], {}, "--as-of: '2026-02-30' is not a date"),
    (["outreach", "--as-of", "tomorrow"], {}, "--as-of: 'tomorrow'"),
    (["impact", "--as-of", "2026-13-01"], {}, "--as-of"),
    (["train", "--horizon", "0"], {}, "--horizon"),
    (["simulate", "--customers", "-5"], {}, "--customers: must be at least 1"),
    (["simulate", "--company", "retail", "--format", "parquet"], {}, "--format"),
    (["ui", "--port", "99999"], {}, "--port"),
    (["quarantine", "reingest", "fixed.csv"], {}, "fixed.csv: no such file"),
    (["quarantine", "export", "--out", "no/such/dir/q.csv"], {}, "no/such/dir does not exist"),
    (["tasks", "export", "--out", "no/such/dir/t.csv"], {}, "no/such/dir does not exist"),
    (["ingest", "no-such-folder"], {}, "no-such-folder"),
    (["ingest", "--sources", "sources.yaml"], {}, "sources.yaml"),
    (
        ["preview", "renewal_risk", "--customer", "c1", "--playbooks", "mine.yaml"],
        {},
        "mine.yaml: no such file",
    ),
    (["preview", "renewal_rsik", "--customer", "c1"], {}, "unknown playbook 'renewal_rsik'"),
    (["status"], {"PROACTIVE_WAREHOUSE_URL": "mysql://db/x"}, "unsupported warehouse URL"),
    (["status"], {"PROACTIVE_COLOUR": "1"}, "PROACTIVE_COLOUR"),
    (["train"], {}, "no active customers"),
    (["score"], {}, "no champion model"),
    (["rollback", "--target", "churn"], {}, "nothing to roll back"),
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One empty data folder for every case: the warehouse and MLflow store are created once."""
    return tmp_path_factory.mktemp("mistakes") / "data"


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own exit
        return int(exc.code or 0)


@pytest.mark.parametrize(
    ("argv", "env", "expected"), MISTAKES, ids=[" ".join(m[0]) + str(m[1] or "") for m in MISTAKES]
)
def test_a_user_mistake_exits_2_with_one_line(
    argv: list[str],
    env: dict[str, str],
    expected: str,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROACTIVE_DATA_DIR", str(data_dir))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = _run(argv)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert expected in lines[0], lines[0]


def test_at_least_twenty_mistakes_are_covered() -> None:
    assert len(MISTAKES) >= 20


def _parsers(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:  # noqa: SLF001
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for name, child in action.choices.items():
                found += _parsers(child, f"{path} {name}")
    return found


def test_every_option_and_subcommand_has_help() -> None:
    missing = []
    for path, parser in _parsers(build_parser(), "proactive-ml"):
        for action in parser._actions:  # noqa: SLF001
            if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
                missing += [f"{path} {c.dest}" for c in action._choices_actions if not c.help]  # noqa: SLF001
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, "no help text: " + ", ".join(missing)


def test_a_system_failure_is_not_a_user_mistake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exit 2 is for the user's mistakes only: an unexpected failure keeps its traceback (exit 1 from Python)."""
    import proactive_ml.ingest.commands as ingest_commands

    def broken(args: argparse.Namespace) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ingest_commands, "_status", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        main(["status"])


@pytest.mark.parametrize("command", ["serve", "mail-sink"])
def test_a_busy_port_is_named_not_a_traceback(
    command: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    monkeypatch.setenv("PROACTIVE_DATA_DIR", str(data_dir))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert _run([command, "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert (
        err.strip()
        == f"error: --port {port}: cannot listen on 127.0.0.1:{port} (Address already in use); choose another"
    )
