"""Shared fixtures: settings with a private data folder, and a warehouse on each backend.

``wh`` and ``duck`` are migrated (every table of the schema, no rows), as every flow and CLI command sees the
warehouse; ``bare_wh`` has no table at all.

PostgreSQL tests use a fresh schema on ``PROACTIVE_TEST_PG_URL`` (default: postgres@127.0.0.1:5432/postgres).
Without a reachable server they are reported loudly as NOT RUN; with ``PROACTIVE_REQUIRE_POSTGRES=1`` (set by
CI) that is a failure instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse, migrate

PG_URL = os.environ.get("PROACTIVE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("PROACTIVE_REQUIRE_POSTGRES", "") == "1"
_PG_NOT_RUN: list[str] = []


def _pg_available() -> str | None:
    try:
        Warehouse.connect(PG_URL).close()
        return None
    except Exception as exc:  # any connection problem means: not available
        return str(exc)


@pytest.fixture(scope="session")
def pg_problem() -> str | None:
    return _pg_available()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose every path lives under this test's tmp_path."""
    return Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]


def _pg_schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url(pg_problem: str | None) -> Iterator[str]:
    """A URL to an empty PostgreSQL schema, dropped afterwards."""
    if pg_problem:
        if REQUIRE_PG:
            pytest.fail(
                f"PostgreSQL is required (PROACTIVE_REQUIRE_POSTGRES=1) but unreachable: {pg_problem}"
            )
        pytest.skip(f"PostgreSQL NOT RUN: unreachable at {PG_URL}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = Warehouse.connect(PG_URL)
    admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield _pg_schema_url(schema)
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test runs on the embedded default and on PostgreSQL."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'wh.duckdb'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def bare_wh(warehouse_url: str) -> Iterator[Warehouse]:
    """An open warehouse on each backend with no table at all (not migrated: for the schema's own tests)."""
    w = Warehouse.connect(warehouse_url)
    yield w
    w.close()


@pytest.fixture
def wh(bare_wh: Warehouse) -> Warehouse:
    """An open warehouse on each backend as every flow and command sees it: migrated, every table empty."""
    migrate(bare_wh)
    return bare_wh


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[Warehouse]:
    """An open embedded warehouse, migrated, every table empty (for tests about logic, not storage)."""
    w = Warehouse.connect(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    migrate(w)
    yield w
    w.close()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Note the PostgreSQL tests skipped for want of a server (in the main process, with or without ``-n``)."""
    if report.skipped and "PostgreSQL NOT RUN" in str(report.longrepr) and report.nodeid not in _PG_NOT_RUN:
        _PG_NOT_RUN.append(report.nodeid)


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    if _PG_NOT_RUN:
        terminalreporter.section("POSTGRESQL TESTS NOT RUN", sep="!", red=True, bold=True)
        terminalreporter.write_line(
            f"{len(_PG_NOT_RUN)} PostgreSQL tests did not run: no server at {PG_URL}. "
            "Start PostgreSQL or set PROACTIVE_TEST_PG_URL; CI sets PROACTIVE_REQUIRE_POSTGRES=1 to fail instead."
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``-n`` (pytest-xdist), every flow test runs on one worker: only it starts the Prefect test server."""
    flows = Path(__file__).parent / "flows"
    for item in items:
        if item.path.is_relative_to(flows):
            item.add_marker(pytest.mark.xdist_group("prefect"))
