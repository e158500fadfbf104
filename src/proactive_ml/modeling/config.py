"""The declared modeling configuration: ``models/candidates.yaml`` in, frozen dataclasses out.

Candidates (one dict each, ensembles with their members resolved), how training sets are cut out of history,
the promotion gates, and the uplift model's block. Pure: no MLflow, no warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from proactive_ml.errors import UserError
from proactive_ml.features.outcomes import NeedEvents
from proactive_ml.settings import PROJECT_ROOT

CANDIDATES_YAML = PROJECT_ROOT / "models" / "candidates.yaml"
LABELS_YAML = PROJECT_ROOT / "models" / "labels.yaml"
LABEL_DEFINITIONS = {"churn": ("subscription", "inactivity", "snapshot"), "need": ("need",)}
AUTO = "auto"


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
    max_train_rows: int | None = None  # a uniform seeded sample of the training rows above this size


@dataclass(frozen=True)
class Gates:
    """Promotion rule: beat the champion by ``min_improvement`` on ``metric`` and pass every floor."""

    metric: str = "roc_auc"
    min_improvement: float = 0.005
    floors: dict[str, float] = field(default_factory=lambda: {"roc_auc": 0.6})


@dataclass(frozen=True)
class UpliftLearner:
    """One declared uplift learner (``uplift: learners:`` in candidates.yaml): a meta-learner over a base model.

    ``params`` / ``effect_params`` override the base's outcome classifier / effect regressor hyperparameters;
    ``numeric``: how numbers enter the models; ``min_rows``: with fewer training rows the product trains the
    fallback learner instead.
    """

    name: str
    method: str
    base: str = "logistic"
    params: dict[str, Any] = field(default_factory=dict)
    effect_params: dict[str, Any] = field(default_factory=dict)
    numeric: str = "scale"  # scale | log1p | splines (a cubic B-spline basis of each number's signed log)
    spline_knots: int = 6
    min_rows: int = 0


TWO_MODEL_LR = UpliftLearner(name="two_model_lr", method="t_learner", base="logistic")


@dataclass(frozen=True)
class UpliftConfig:
    """The uplift model (see ``uplift:`` in candidates.yaml): learners, data needed, promotion floors."""

    learner: str = TWO_MODEL_LR.name  # the learner trained (chosen by bench/hillstrom.py on split seeds 0-29)
    fallback_learner: str = TWO_MODEL_LR.name  # trained when there are fewer rows than the learner's min_rows
    learners: tuple[UpliftLearner, ...] = (TWO_MODEL_LR,)
    horizon_days: int = 60
    min_rows_per_arm: int = 30
    validation_share: float = 0.3
    seed: int = 42
    floors: dict[str, float] = field(default_factory=lambda: {"qini_auc": 0.0})

    def spec(self, name: str) -> UpliftLearner:
        """The declared learner called ``name``."""
        for learner in self.learners:
            if learner.name == name:
                return learner
        raise UserError(
            f"uplift learner {name!r} is not declared; declared: {[lr.name for lr in self.learners]}"
        )

    def learner_for(self, rows: int) -> UpliftLearner:
        """The learner to train on ``rows`` training rows: the chosen one, or the fallback below its min_rows."""
        chosen = self.spec(self.learner)
        return chosen if rows >= chosen.min_rows else self.spec(self.fallback_learner)


UPLIFT_METHODS = ("class_transformation", "t_learner", "dr_learner", "x_learner")
UPLIFT_NUMERIC = ("scale", "log1p", "splines")
UPLIFT_BASES = ("logistic", "logistic_cv", "hgb")  # logistic_cv: its strength chosen by inner CV per fit


def uplift_config(raw: dict[str, Any], path: str | Path) -> UpliftConfig:
    """The ``uplift:`` block: learners as :class:`UpliftLearner`, every name and method checked (one-line errors)."""
    block = dict(raw)
    learners = []
    for i, item in enumerate(block.pop("learners", None) or [TWO_MODEL_LR.__dict__]):
        unknown = set(item) - set(UpliftLearner.__dataclass_fields__)
        if (
            unknown
            or "name" not in item
            or item.get("method") not in UPLIFT_METHODS
            or item.get("numeric", "scale") not in UPLIFT_NUMERIC
            or item.get("base", "logistic") not in UPLIFT_BASES
        ):
            raise UserError(
                f"{path}: uplift.learners[{i}]: needs a name, a method in {UPLIFT_METHODS} "
                f"and (optional) base in {UPLIFT_BASES}, numeric in {UPLIFT_NUMERIC}"
                + (f"; unknown key(s) {sorted(unknown)}" if unknown else "")
            )
        learners.append(UpliftLearner(**item))
    unknown = set(block) - set(UpliftConfig.__dataclass_fields__)
    if unknown:
        raise UserError(f"{path}: uplift: unknown key(s) {sorted(unknown)}")
    cfg = UpliftConfig(**block, learners=tuple(learners))
    for name in (cfg.learner, cfg.fallback_learner):
        try:
            cfg.spec(name)
        except UserError as err:
            raise UserError(f"{path}: {err}") from None
    return cfg


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
        uplift=uplift_config(raw.get("uplift") or {}, path),
    )


@dataclass(frozen=True)
class LabelSpec:
    """How one model's label is defined (see ``models/labels.yaml``)."""

    definition: str = "subscription"  # subscription | inactivity | snapshot | need
    horizon: int | str = 30  # days after the cutoff, or "auto" (inactivity only)
    active_window_days: int = 90
    return_threshold: float = 0.05
    max_auto_days: int = 365
    qualifying_features: tuple[str, ...] = ()
    events: NeedEvents = NeedEvents()  # need: which events show a need (tickets, detractor answers, usage)

    def describe(self) -> str:
        """The definition in words, for errors and logs."""
        if self.definition == "snapshot":
            return "snapshot (the label column of the customers file)"
        if self.definition == "inactivity":
            return f"inactivity (no qualifying usage event for {self.horizon} days after the cutoff)"
        if self.definition == "need":
            return f"need ({_need_words(self.events)} within {self.horizon} days)"
        return f"subscription (cancelled within {self.horizon} days after the cutoff)"


def _need_words(ev: NeedEvents) -> str:
    """What counts as a need, in words."""
    words = []
    if ev.tickets:
        words.append("a ticket" + (f" in {', '.join(ev.ticket_categories)}" if ev.ticket_categories else ""))
    if ev.nps_max is not None:
        words.append(f"an NPS answer <= {ev.nps_max}")
    if ev.csat_max is not None:
        words.append(f"a CSAT answer <= {ev.csat_max}")
    if ev.usage_features:
        words.append(f"a usage event of {', '.join(ev.usage_features)}")
    return " or ".join(words) or "nothing (every need event is switched off)"


def _need_events(raw: Any, where: str) -> NeedEvents:
    """The ``events:`` block of the need label (unknown keys refused with their name)."""
    block = dict(raw or {})
    unknown = set(block) - set(NeedEvents.__dataclass_fields__)
    if unknown:
        raise UserError(f"{where}: events: unknown key(s) {sorted(unknown)}")
    for key in ("ticket_categories", "usage_features"):
        if key in block:
            block[key] = tuple(str(v) for v in block[key] or ())
    return NeedEvents(**block)


def _horizon(value: Any, where: str) -> int | str:
    if value == AUTO:
        return AUTO
    try:
        days = int(value)
    except (TypeError, ValueError):
        days = 0
    if days <= 0:
        raise UserError(f"{where}: horizon must be a positive number of days or 'auto', got {value!r}")
    return days


def label_spec(
    target: str,
    path: str | Path = LABELS_YAML,
    definition: str | None = None,
    horizon: int | str | None = None,
) -> LabelSpec:
    """The declared label of ``target`` (``models/labels.yaml``), with the CLI's overrides applied."""
    raw = yaml.safe_load(Path(path).read_text()) if Path(path).exists() else {}
    block = dict((raw or {}).get(target) or {})
    if "qualifying_features" in block:
        block["qualifying_features"] = tuple(block["qualifying_features"] or ())
    if "events" in block:
        if target != "need":
            raise UserError(f"{path}: {target}: `events` only applies to the need label")
        block["events"] = _need_events(block["events"], f"{path}: {target}")
    unknown = set(block) - set(LabelSpec.__dataclass_fields__)
    if unknown:
        raise UserError(f"{path}: {target}: unknown key(s) {sorted(unknown)}")
    spec = LabelSpec(**block)
    if definition is not None:
        spec = replace(spec, definition=definition)
    if horizon is not None:
        spec = replace(spec, horizon=horizon)
    allowed = LABEL_DEFINITIONS.get(target, ())
    if spec.definition not in allowed:
        raise UserError(
            f"{path}: label {spec.definition!r} does not apply to target {target!r}: choose one of {', '.join(allowed)}"
        )
    spec = replace(spec, horizon=_horizon(spec.horizon, f"{path}: {target}"))
    if spec.horizon == AUTO and spec.definition != "inactivity":
        raise UserError(f"{path}: {target}: horizon 'auto' only applies to the inactivity label")
    return spec
