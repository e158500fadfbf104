"""A closed warehouse lets go of its DuckDB connection: no "nanobind: leaked ..." noise after a failed run."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from proactive_ml.warehouse import Warehouse, WarehouseError

# A failed run whose exception (and so the frames holding the warehouse) is still held at exit by a daemon
# thread, as Prefect's event loop holds a failed flow run's state.
FAILED_RUN = textwrap.dedent(
    """
    import threading, time
    from proactive_ml.warehouse import Warehouse

    def fail():
        wh = Warehouse.connect("duckdb:///:memory:")
        with wh:
            wh.query("SELECT 1 AS a")
            raise ValueError("a user mistake")

    def hold():
        try:
            fail()
        except ValueError as exc:
            kept = exc
            time.sleep(60)

    threading.Thread(target=hold, daemon=True).start()
    time.sleep(0.5)
    """
)


def test_no_leak_report_at_exit_after_a_failed_run() -> None:
    done = subprocess.run([sys.executable, "-c", FAILED_RUN], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "nanobind" not in done.stderr, done.stderr


def test_a_closed_warehouse_says_so() -> None:
    wh = Warehouse.connect("duckdb:///:memory:")
    wh.close()
    wh.close()  # twice is fine
    with pytest.raises(WarehouseError, match="closed"):
        wh.query("SELECT 1")


def test_the_key_hashing_connection_is_closed_at_exit() -> None:
    """The validation's in-memory DuckDB (a module global) is closed by an atexit hook, before module teardown."""
    code = (
        "import atexit, duckdb\n"
        "from proactive_ml.validation import keys\n"
        "con = keys.duck_connection(); con.execute('SELECT 1')\n"
        "atexit._run_exitfuncs()\n"
        "assert keys._DUCK == [], keys._DUCK\n"
        "try:\n    con.execute('SELECT 1')\nexcept duckdb.ConnectionException:\n    print('closed')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "closed"
    assert "nanobind" not in done.stderr
