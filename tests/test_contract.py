"""The data contract is documented in the README and its SQL is portable."""

from __future__ import annotations

from pathlib import Path

from proactive_ml.contract import DATASETS, create_table_sql, markdown_table
from proactive_ml.warehouse import Warehouse

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_documents_every_dataset_exactly() -> None:
    for ds in DATASETS.values():
        assert markdown_table(ds) in README, f"README's table of {ds.name} is stale: regenerate it"


def test_keys_and_foreign_keys_name_real_columns() -> None:
    for ds in DATASETS.values():
        assert set(ds.key) <= set(ds.column_names)
        assert ds.time_column in ds.column_names
        for col, ref in ds.foreign_keys.items():
            table, ref_col = ref.split(".")
            assert col in ds.column_names
            assert ref_col in DATASETS[table].column_names


def test_ddl_runs_on_both_backends(bare_wh: Warehouse) -> None:
    for ds in DATASETS.values():
        bare_wh.execute(create_table_sql(ds))
        assert bare_wh.query(f"SELECT * FROM {ds.name}").columns.tolist() == ds.column_names
