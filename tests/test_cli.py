"""The CLI: every subcommand is listed, and --help imports none of the heavy libraries."""

from __future__ import annotations

import subprocess
import sys

from proactive_ml.cli import build_parser, main


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys; from proactive_ml.cli import build_parser; build_parser(); "
        "heavy = [m for m in ('pandas', 'great_expectations', 'mlflow', 'prefect', 'sklearn', 'duckdb') "
        "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_subcommand_is_registered() -> None:
    text = build_parser().format_help()
    for cmd in (
        "simulate",
        "ingest",
        "status",
        "quarantine",
        "train",
        "score",
        "promote",
        "rollback",
        "ui",
        "preview",
        "mail-sink",
        "outreach",
        "tasks",
        "serve",
        "responses",
        "impact",
        "report",
    ):
        assert cmd in text, cmd


def test_no_command_prints_help_and_fails(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main([]) == 2
    assert "usage: proactive-ml" in capsys.readouterr().out
