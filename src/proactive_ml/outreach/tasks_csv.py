"""The customer-success tasks as a CSV for spreadsheets (formula injection neutralised by :mod:`proactive_ml.csvsafe`).

The desk is where tasks are worked; this export stays for teams that plan in a spreadsheet.
"""

from __future__ import annotations

from datetime import date

from proactive_ml.csvsafe import write_csv
from proactive_ml.warehouse import Warehouse


def export_tasks(wh: Warehouse, path: str, as_of: date | None = None) -> int:
    """Write the CS tasks (open ones, optionally of one day) to a CSV a person can open; returns the row count."""
    sql = (
        "SELECT t.task_id, t.as_of, t.customer_id, c.name AS contact_name, c.plan, c.monthly_revenue, t.playbook, "
        "t.priority, t.expected_value, t.score, t.reasons, t.guidance, t.state, t.created_at FROM cs_tasks t "
        "LEFT JOIN customers c ON c.customer_id = t.customer_id WHERE t.state = 'open'"
    )
    params: dict[str, object] = {}
    if as_of is not None:
        sql += " AND t.as_of = :d"
        params["d"] = as_of
    df = wh.query(sql + " ORDER BY t.as_of, t.priority, t.expected_value DESC", params)
    write_csv(df, path)
    return len(df)
