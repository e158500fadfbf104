"""The declared modeling configuration: ``models/candidates.yaml`` in, frozen dataclasses out.

Candidates (one dict each, ensembles with their members resolved), how training sets are cut out of history,
the promotion gates, and the uplift model's block. Pure: no MLflow, no warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from proactive_ml.errors import UserError
from proactive_ml.settings import PROJECT_ROOT

CANDIDATES_YAML = PROJECT_ROOT / "models" / "candidates.yaml"


@dataclass(frozen=True)
class TrainingConfig:
    """How the training set is cut out of history (see ``training:`` in candidates.yaml)."""

    horizon_days: int = 30
    n_train_cutoffs: int = 8
    cutoff_step_days: int = 7
    purge_gap: bool = True
    min_history_days: int = 30
    exclude_treated: bool = True
    selection_metric: str = "pr_auc"


@dataclass(frozen=True)
class Gates:
    """Promotion rule: beat the champion by ``min_improvement`` on ``metric`` and pass every floor."""

    metric: str = "roc_auc"
    min_improvement: float = 0.005
    floors: dict[str, float] = field(default_factory=lambda: {"roc_auc": 0.6})


@dataclass(frozen=True)
class UpliftConfig:
    """The uplift model (see ``uplift:`` in candidates.yaml): meta-learner, data needed, promotion floors."""

    method: str = "t_learner"
    base: str = "logistic"
    horizon_days: int = 60
    min_rows_per_arm: int = 30
    validation_share: float = 0.3
    seed: int = 42
    floors: dict[str, float] = field(default_factory=lambda: {"qini_auc": 0.0})


@dataclass(frozen=True)
class ModelConfig:
    """The whole of candidates.yaml."""

    candidates: tuple[dict[str, Any], ...]
    training: TrainingConfig
    gates: Gates
    uplift: UpliftConfig = field(default_factory=UpliftConfig)


def resolve_members(candidates: list[dict[str, Any]], path: str | Path) -> tuple[dict[str, Any], ...]:
    """Candidates with every ensemble's ``members`` (names of other candidates) replaced by their specs."""
    by_name = {c["name"]: c for c in candidates}
    out = []
    for c in candidates:
        if "members" in c:
            unknown = [m for m in c["members"] if m not in by_name or "members" in by_name[m]]
            if unknown:
                raise UserError(
                    f"{path}: candidate {c['name']!r} lists unknown or nested members {unknown}; "
                    "members name single (non-ensemble) candidates declared in the same file"
                )
            c = c | {"members": [by_name[m] for m in c["members"]]}
        out.append(c)
    return tuple(out)


def load_model_config(path: str | Path = CANDIDATES_YAML) -> ModelConfig:
    """Parse ``models/candidates.yaml``."""
    raw = yaml.safe_load(Path(path).read_text())
    return ModelConfig(
        candidates=resolve_members(list(raw["candidates"]), path),
        training=TrainingConfig(**raw.get("training", {})),
        gates=Gates(**raw.get("gates", {})),
        uplift=UpliftConfig(**raw.get("uplift", {})),
    )
