"""The storage edge: the only package that opens database connections and the one owner of the schema.

``Warehouse.connect(url)`` gives the same API over an embedded DuckDB file (the default) and PostgreSQL;
``migrate(wh)`` brings its tables to ``SCHEMA_VERSION`` and ``open_warehouse(url)`` does both.
"""

from proactive_ml.warehouse.engine import Warehouse, WarehouseError
from proactive_ml.warehouse.schema import SCHEMA_VERSION, TABLES, migrate, open_warehouse

__all__ = ["SCHEMA_VERSION", "TABLES", "Warehouse", "WarehouseError", "migrate", "open_warehouse"]
