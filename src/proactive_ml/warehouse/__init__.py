"""The storage edge: the only package that opens database connections.

``Warehouse.connect(url)`` gives the same API over an embedded DuckDB file (the default) and PostgreSQL.
"""

from proactive_ml.warehouse.engine import Warehouse, WarehouseError

__all__ = ["Warehouse", "WarehouseError"]
