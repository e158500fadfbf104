"""The one schema: migrate creates every table on both backends, once, also when two runs migrate at once."""

from __future__ import annotations

import threading

import pytest

from proactive_ml.contract import DATASETS
from proactive_ml.warehouse import SCHEMA_VERSION, TABLES, Warehouse, WarehouseError, migrate
from proactive_ml.warehouse.schema import MIGRATIONS, current_version, open_warehouse

PRODUCT_TABLES = {
    *DATASETS,
    "ingest_log",
    "quarantine",
    "validation_runs",
    "scores",
    "decisions",
    "send_ledger",
    "dead_letters",
    "cs_tasks",
    "suppressions",
    "email_events",
    "replies",
    "ratings",
    "response_quarantine",
    "impact_history",
    "customer_attributes",
    "customer_attribute_defs",
    "customer_labels",
    "desk_people",
    "desk_audit",
    "desk_flags",
    "desk_approvals",
    "policy_checks",
}


def _tables(wh: Warehouse) -> set[str]:
    df = wh.query("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
    return set(df["table_name"])


def test_every_table_is_declared_once_in_order() -> None:
    assert set(TABLES) == PRODUCT_TABLES
    assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
    assert all(f"CREATE TABLE IF NOT EXISTS {name} " in ddl for name, ddl in TABLES.items())


def test_version_2_adds_the_later_optional_columns_to_an_old_warehouse(bare_wh: Warehouse) -> None:
    old = MIGRATIONS[0]
    with bare_wh.transaction():
        for ddl in old.statements:
            bare_wh.execute(ddl.replace(", locale TEXT", "").replace(",\n  locale TEXT", ""))
    migrate(bare_wh)
    cols = bare_wh.query(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
    )
    have = set(zip(cols["table_name"], cols["column_name"], strict=True))
    assert ("customers", "locale") in have
    assert ("customer_labels", "label") in have


def test_migrate_creates_every_table_and_records_the_version(bare_wh: Warehouse) -> None:
    assert _tables(bare_wh) == set()
    assert current_version(bare_wh) == 0
    assert migrate(bare_wh) == SCHEMA_VERSION
    assert _tables(bare_wh) == PRODUCT_TABLES | {"schema_version"}
    versions = bare_wh.query("SELECT version, description, applied_at FROM schema_version ORDER BY version")
    assert versions["version"].tolist() == [m.version for m in MIGRATIONS]
    assert versions["applied_at"].notna().all()
    for name in PRODUCT_TABLES:  # every table is there and empty: readers simply query
        assert bare_wh.row_count(name) == 0


def test_migrate_twice_is_a_no_op(bare_wh: Warehouse) -> None:
    migrate(bare_wh)
    bare_wh.execute(
        "INSERT INTO suppressions (email_sha256, reason, source, created_at) "
        "VALUES ('h', 'bounce', 'test', TIMESTAMP '2026-01-01 00:00:00')"
    )
    assert migrate(bare_wh) == SCHEMA_VERSION
    assert bare_wh.row_count("schema_version") == len(MIGRATIONS)
    assert bare_wh.row_count("suppressions") == 1


def test_a_warehouse_built_before_migrations_is_adopted(bare_wh: Warehouse) -> None:
    bare_wh.execute(TABLES["decisions"])  # an older run created some tables itself
    bare_wh.execute(
        "INSERT INTO decisions (send_key, as_of, customer_id, playbook, action, arm, decided_at) "
        "VALUES ('k', DATE '2026-01-01', 'c', 'p', 'email', 'holdout', TIMESTAMP '2026-01-01 00:00:00')"
    )
    assert migrate(bare_wh) == SCHEMA_VERSION
    assert bare_wh.row_count("decisions") == 1
    assert _tables(bare_wh) >= PRODUCT_TABLES


def test_a_newer_schema_is_refused_with_a_clear_error(bare_wh: Warehouse) -> None:
    migrate(bare_wh)
    bare_wh.execute(
        "INSERT INTO schema_version (version, description, applied_at) "
        "VALUES (:v, 'from the future', TIMESTAMP '2030-01-01 00:00:00')",
        {"v": SCHEMA_VERSION + 1},
    )
    with pytest.raises(WarehouseError, match="newer than this program"):
        migrate(bare_wh)


def test_open_warehouse_connects_and_migrates(warehouse_url: str) -> None:
    with open_warehouse(warehouse_url) as wh:
        assert current_version(wh) == SCHEMA_VERSION
        assert _tables(wh) >= PRODUCT_TABLES


def test_concurrent_migrations_on_postgres_both_succeed_with_one_set_of_tables(pg_url: str) -> None:
    """Four processes' worth of connections migrate the same empty schema at the same moment."""
    conns = [Warehouse.connect(pg_url) for _ in range(4)]
    start = threading.Barrier(len(conns))
    results: list[int] = []
    errors: list[BaseException] = []

    def run(wh: Warehouse) -> None:
        start.wait()
        try:
            results.append(migrate(wh))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert results == [SCHEMA_VERSION] * len(conns)
        check = conns[0]
        assert _tables(check) == PRODUCT_TABLES | {"schema_version"}
        assert check.row_count("schema_version") == len(MIGRATIONS)
    finally:
        for c in conns:
            c.close()
