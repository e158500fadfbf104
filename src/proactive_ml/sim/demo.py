"""Runtime pieces of the closed-loop demo: local services, the warm-up backfill, and the world's truth log.

The demo is the real system on a simulated world: the local SendGrid-compatible sink and the receiver run in
threads on 127.0.0.1, the world writes landing files and answers the emails it gets. Nothing here decides
anything the product does; it only connects the world to the product and keeps score against the truth.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from proactive_ml.contract import DATASETS
from proactive_ml.responses.receiver import local_webhook_keys, start_receiver_in_thread
from proactive_ml.settings import Settings
from proactive_ml.sim.sink import start_sink_in_thread
from proactive_ml.sim.world import World
from proactive_ml.sim.world.landing import write_dataset_file


class LocalServices:
    """The mail sink and the receiver on free loopback ports; ``overrides`` point the settings at them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stack = ExitStack()
        self.sink_url = ""
        self.receiver_url = ""

    def __enter__(self) -> LocalServices:
        s = self.settings
        _, public_key = local_webhook_keys(s.data_dir)
        self.sink_url, stop_sink, _ = start_sink_in_thread(s)
        self._stack.callback(stop_sink)
        receiver = start_receiver_in_thread(
            s.model_copy(update={"webhook_public_key": public_key}), wh_url=s.resolved_warehouse_url
        )
        self._stack.enter_context(receiver)
        self.receiver_url = receiver.url
        self.public_key = public_key
        return self

    def enter(self, context: Any) -> Any:
        """Enter ``context`` now and leave it with the services (before them: it may use them)."""
        return self._stack.enter_context(context)

    @property
    def overrides(self) -> dict[str, Any]:
        """Settings that point the stages at these local services."""
        return {
            "sendgrid_host": self.sink_url,
            "public_base_url": self.receiver_url,
            "webhook_public_key": self.public_key,
        }

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


def write_backfill(world: World, days: int, landing_dir: Path) -> list[Path]:
    """Simulate ``days`` days and write them as one Parquet file per dataset (a company's initial export)."""
    paths = []
    for name, df in simulate_export(world, days).items():
        path = Path(landing_dir) / name / f"backfill-{world.today.isoformat()}.parquet"
        paths.append(write_dataset_file(name, df, path, "parquet"))
    return paths


def write_export(world: World, days: int, landing_dir: Path) -> list[Path]:
    """Simulate ``days`` days and land them as one CSV file per dataset, named by the last day.

    An export of what changed since the last run, as a company's scheduled export job writes it.
    """
    return world.write_landing(simulate_export(world, days), landing_dir)


def simulate_export(world: World, days: int) -> dict[str, pd.DataFrame]:
    """The next ``days`` simulated days, one frame per dataset (empty ones left out).

    Customers and tickets keep their latest row (they are re-emitted when they change).
    """
    frames: dict[str, list[pd.DataFrame]] = {name: [] for name in DATASETS}
    for _ in range(days):
        for name, frame in world.step().items():
            if len(frame):
                frames[name].append(frame)
    out = {}
    for name, parts in frames.items():
        if not parts:
            continue
        df = pd.concat(parts, ignore_index=True)
        if DATASETS[name].upsert:
            df = df.drop_duplicates(list(DATASETS[name].key), keep="last")
        out[name] = df
    return out


def true_effect(
    world: World, decisions: pd.DataFrame, decided_before: date, horizon_days: int = 30
) -> tuple[float, int]:
    """The world's true effect per treated customer, for the same customers the impact measurement uses.

    Impact compares each customer's first randomized decision; here the treated ones among those, decided
    before ``decided_before``, are looked up in the world's frozen truth of each send (expected retention gained
    over ``horizon_days``; 0 for an email that was never delivered). Randomization makes their mean the
    average effect of the policy on the decided population.
    """
    first = decisions.sort_values(["as_of", "send_key"]).drop_duplicates("customer_id")
    first = first[(pd.to_datetime(first["as_of"]).dt.date < decided_before) & (first["arm"] == "treatment")]
    if first.empty:
        return float("nan"), 0
    truth = world.sends_truth(horizon_days).set_index("send_key")["uplift"]
    uplift = first["send_key"].map(truth).fillna(0.0)
    return float(uplift.mean()), len(first)
