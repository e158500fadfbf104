"""Simulate a new world day by day and write every day's landing files (``proactive-ml simulate``)."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from proactive_ml.contract import DATASETS
from proactive_ml.sim.world.config import WorldConfig
from proactive_ml.sim.world.landing import write_batch
from proactive_ml.sim.world.simulator import World


def simulate_to_landing(
    landing_dir: str | Path,
    n_customers: int = 2000,
    days: int = 90,
    start: date = date(2026, 1, 1),
    seed: int = 42,
    fmt: str = "csv",
    progress: bool = True,
    world_path: str | Path | None = None,
    **config: Any,
) -> dict[str, Any]:
    """Simulate ``days`` days of a new world and write every day's landing files.

    Extra keyword arguments go to :class:`WorldConfig`. With ``world_path`` the final world is saved there, so
    it can later answer the emails the system sends. Returns a summary: rows and files per dataset, churned
    customers, seconds, and the world's own summary.
    """
    t0 = time.perf_counter()
    world = World(WorldConfig(n_customers=n_customers, start=start, seed=seed, **config))
    rows = {name: 0 for name in DATASETS}
    files = 0

    def one_day() -> None:
        nonlocal files
        tables = world.step_tables()
        for name, tbl in tables.items():
            rows[name] += tbl.num_rows
        files += len(write_batch(tables, landing_dir, fmt=fmt, day=world.today))

    if progress:
        columns = (
            TextColumn("simulating {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, transient=False) as bar:
            task = bar.add_task(f"{n_customers:,} customers", total=days)
            for _ in range(days):
                one_day()
                bar.update(task, advance=1, description=f"{world.today.isoformat()}")
    else:
        for _ in range(days):
            one_day()
    if world_path is not None:
        world.save(world_path)
    return {
        "landing_dir": str(landing_dir),
        "format": fmt,
        "days": days,
        "start": start.isoformat(),
        "end": world.today.isoformat(),
        "rows": rows,
        "files": files,
        "seconds": round(time.perf_counter() - t0, 3),
        "world": world.summary(),
        "world_path": str(world_path) if world_path is not None else None,
    }
