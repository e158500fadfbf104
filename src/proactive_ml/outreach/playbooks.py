"""Playbooks: which need, reason or journey touchpoint leads to which action (declared in models/playbooks.yaml).

Pure: loading a YAML file into frozen dataclasses and matching a customer frame against the eligibility rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from proactive_ml.errors import UserError
from proactive_ml.outreach.authority import Authority, AuthorityError, parse_authority
from proactive_ml.settings import PROJECT_ROOT

DEFAULT_PLAYBOOKS_PATH = PROJECT_ROOT / "models" / "playbooks.yaml"
ACTIONS = ("email", "cs_task")
OPS = (">", ">=", "<", "<=", "==", "!=", "in", "not_in", "is_null", "not_null")
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
# The columns of the candidate frame a rule may test (outreach.inputs.load_candidates builds them; a test keeps the
# two in sync). A misspelled field would otherwise match nobody, silently.
RULE_FIELDS = (
    "score",
    "need_score",
    "plan",
    "country",
    "timezone",
    "monthly_revenue",
    "marketing_consent",
    "signup_date",
    "cancelled_at",
    "tenure_days",
    "days_to_renewal",
    "usage_14d",
    "usage_prev_14d",
    "usage_trend",
    "open_tickets",
    "oldest_open_ticket_days",
    "urgent_open_tickets",
    "last_nps",
    "days_since_nps",
    "last_csat",
)


# Content blocks a playbook may declare: each is built from facts about the customer (outreach.facts) and left out
# of the email when its facts are missing. Never a score, a model reason or a survey value.
BLOCKS = ("open_ticket", "next_step", "renewal", "usage_recap", "help_centre")
DEFAULT_VARIANT = "a"


class PlaybookError(UserError, ValueError):
    """The playbook file is invalid (message names the playbook and the problem)."""


@dataclass(frozen=True)
class Rule:
    """One condition over a column of the candidate frame."""

    field: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class Variant:
    """One subject/body variant of an email playbook, drawn for a share ``weight`` of its decisions."""

    name: str
    weight: float
    subjects: tuple[tuple[str, str], ...]  # (language, subject template); "en" is the fallback
    template: str | None = None

    def subject_for(self, lang: str) -> str:
        """The subject template in ``lang``, else the English one."""
        d = dict(self.subjects)
        return d.get(lang) or d.get("en") or next(iter(d.values()), "")


@dataclass(frozen=True)
class Playbook:
    """One playbook: eligibility, action (email template or CS task), priority (lower number wins)."""

    name: str
    priority: int
    action: str
    category: str
    min_score: float = 0.0
    rules: tuple[Rule, ...] = ()
    rules_any: tuple[tuple[Rule, ...], ...] = ()
    reasons_any: tuple[str, ...] = ()
    template: str | None = None
    subject: str | None = None
    guidance: str | None = None
    description: str = ""
    sendgrid_template_id: str | None = None
    blocks: tuple[str, ...] = ()
    variants: tuple[Variant, ...] = ()
    # what a person may offer alone, per role (cs_task playbooks; the desk)
    authority: Authority = Authority()
    # paused by outreach while the desk's wrong-suggestion rate is above this (cs_task playbooks; None: never)
    pause_above: float | None = None

    def variant(self, name: str | None) -> Variant:
        """The variant called ``name`` (the first one when unknown or None)."""
        for v in self.variants:
            if v.name == name:
                return v
        if self.variants:
            return self.variants[0]
        return Variant(DEFAULT_VARIANT, 1.0, (("en", self.subject or ""),), self.template)


@dataclass(frozen=True)
class SelectionConfig:
    """Parameters of the expected-value ranking."""

    value_horizon_months: float = 12.0
    contact_cost: float = 1.0
    task_cost: float = 25.0
    min_expected_value: float = 0.0
    max_tasks_per_day: int = 50
    default_customer_value: float = 0.0  # monthly value when neither revenue nor spend is known
    exploration_share: float = 0.0  # share of the day's email budget drawn at random (outreach.exploration)


@dataclass(frozen=True)
class PlaybookConfig:
    """Everything in playbooks.yaml."""

    playbooks: tuple[Playbook, ...]
    selection: SelectionConfig = SelectionConfig()

    def get(self, name: str) -> Playbook:
        """The playbook called ``name`` (KeyError with the known names otherwise)."""
        for p in self.playbooks:
            if p.name == name:
                return p
        raise KeyError(f"unknown playbook {name!r}; known: {', '.join(p.name for p in self.playbooks)}")


def _rule(raw: dict[str, Any], where: str) -> Rule:
    if not isinstance(raw, dict) or "field" not in raw or "op" not in raw:
        raise PlaybookError(f"{where}: a rule needs 'field' and 'op', got {raw!r}")
    if raw["op"] not in OPS:
        raise PlaybookError(f"{where}: unknown op {raw['op']!r}; expected one of {OPS}")
    if raw["field"] not in RULE_FIELDS:
        raise PlaybookError(
            f"{where}: unknown field {raw['field']!r}; rules can test {', '.join(RULE_FIELDS)}"
        )
    value = raw.get("value")
    if isinstance(value, list):
        value = tuple(value)
    return Rule(str(raw["field"]), str(raw["op"]), value)


def _subjects(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    if isinstance(raw, str):
        return (("en", raw),)
    if isinstance(raw, dict) and raw and all(isinstance(v, str) for v in raw.values()):
        return tuple((str(k), v) for k, v in raw.items())
    raise PlaybookError(f"{where}: subject must be a text or a mapping language -> text, got {raw!r}")


def _variants(raw: dict[str, Any], name: str) -> tuple[Variant, ...]:
    """The declared variants (weights normalised to 1), or the single default variant of subject + template."""
    items = raw.get("variants")
    if not items:
        if not raw.get("subject"):
            return ()
        return (Variant(DEFAULT_VARIANT, 1.0, _subjects(raw["subject"], name), raw.get("template")),)
    if not isinstance(items, list) or len(items) < 2:
        raise PlaybookError(f"{name}: variants must be a list of at least two variants")
    out = []
    for v in items:
        vn = str(v.get("name", "")) if isinstance(v, dict) else ""
        if not re.fullmatch(r"[a-z0-9_]{1,20}", vn):
            raise PlaybookError(f"{name}: a variant needs a short lowercase name, got {v!r}")
        w = v.get("weight", 1.0)
        if not isinstance(w, (int, float)) or w <= 0:
            raise PlaybookError(f"{name}.{vn}: weight must be a positive number")
        subject = v.get("subject", raw.get("subject"))
        if not subject:
            raise PlaybookError(f"{name}.{vn}: a variant needs a subject")
        out.append(
            Variant(vn, float(w), _subjects(subject, f"{name}.{vn}"), v.get("template", raw.get("template")))
        )
    if len({v.name for v in out}) != len(out):
        raise PlaybookError(f"{name}: variant names must be unique")
    total = sum(v.weight for v in out)
    return tuple(Variant(v.name, v.weight / total, v.subjects, v.template) for v in out)


def _blocks(raw: dict[str, Any], name: str) -> tuple[str, ...]:
    blocks = tuple(str(b) for b in raw.get("blocks") or [])
    unknown = [b for b in blocks if b not in BLOCKS]
    if unknown:
        raise PlaybookError(f"{name}: unknown content block {unknown[0]!r}; known: {', '.join(BLOCKS)}")
    return blocks


def parse_playbooks(doc: dict[str, Any]) -> PlaybookConfig:
    """Validate a parsed playbooks document and build the config."""
    items = doc.get("playbooks") or []
    if not items:
        raise PlaybookError("no playbooks declared")
    out: list[Playbook] = []
    for raw in items:
        name = str(raw.get("name", ""))
        if not _NAME.match(name):
            raise PlaybookError(f"playbook name {name!r} must be a lowercase slug (it is sent as a category)")
        action = raw.get("action", "email")
        if action not in ACTIONS:
            raise PlaybookError(f"{name}: action must be one of {ACTIONS}")
        if action == "email" and not (raw.get("template") or raw.get("sendgrid_template_id")):
            raise PlaybookError(f"{name}: an email playbook needs a template or a sendgrid_template_id")
        if action == "email" and raw.get("template") and not (raw.get("subject") or raw.get("variants")):
            raise PlaybookError(f"{name}: an email playbook needs a subject")
        if action == "cs_task" and not raw.get("guidance"):
            raise PlaybookError(f"{name}: a cs_task playbook needs guidance text for the person")
        out.append(
            Playbook(
                name=name,
                priority=int(raw.get("priority", 100)),
                action=action,
                category=str(raw.get("category", name)),
                min_score=float(raw.get("min_score", 0.0)),
                rules=tuple(_rule(r, name) for r in raw.get("rules") or []),
                rules_any=tuple(tuple(_rule(r, name) for r in grp) for grp in raw.get("rules_any") or []),
                reasons_any=tuple(str(r) for r in raw.get("reasons_any") or []),
                template=raw.get("template"),
                subject=_default_subject(raw),
                guidance=raw.get("guidance"),
                description=str(raw.get("description", "")),
                sendgrid_template_id=raw.get("sendgrid_template_id"),
                blocks=_blocks(raw, name),
                variants=_variants(raw, name) if action == "email" else (),
                authority=_authority(raw, name, action),
                pause_above=_pause_above(raw, name, action),
            )
        )
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise PlaybookError("playbook names must be unique")
    if "reason_texts" in doc:
        raise PlaybookError(
            "reason_texts is no longer read: an email never shows the model's reasons; declare the playbook's "
            "content `blocks` instead (see the comment atop models/playbooks.yaml)"
        )
    sel = SelectionConfig(**(doc.get("selection") or {}))
    share = sel.exploration_share
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= share < 1.0:
        raise PlaybookError(f"selection.exploration_share must be a number in [0, 1), got {share!r}")
    return PlaybookConfig(tuple(sorted(out, key=lambda p: (p.priority, p.name))), sel)


def _authority(raw: dict[str, Any], name: str, action: str) -> Authority:
    """The playbook's ``authority:`` block (cs_task playbooks only: an email has nobody to make an offer)."""
    if action != "cs_task" and raw.get("authority") is not None:
        raise PlaybookError(f"{name}: authority applies to cs_task playbooks only (a person makes the offer)")
    try:
        return parse_authority(raw.get("authority"), name)
    except AuthorityError as exc:
        raise PlaybookError(str(exc)) from None


def _pause_above(raw: dict[str, Any], name: str, action: str) -> float | None:
    """The wrong-suggestion rate above which outreach pauses the playbook (a share in (0, 1]; None: never)."""
    value = raw.get("pause_above")
    if value is None:
        return None
    if action != "cs_task":
        raise PlaybookError(
            f"{name}: pause_above applies to cs_task playbooks only (flags come from the desk)"
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise PlaybookError(f"{name}: pause_above must be a share in (0, 1], e.g. 0.5, got {value!r}")
    return float(value)


def _default_subject(raw: dict[str, Any]) -> str | None:
    """The English subject of the playbook (of its first variant when only variants declare one)."""
    subject = raw.get("subject") or next((v.get("subject") for v in raw.get("variants") or []), None)
    if isinstance(subject, dict):
        return str(subject.get("en") or next(iter(subject.values()), ""))
    return subject


def load_playbooks(path: Path | str | None = None) -> PlaybookConfig:
    """Read and validate ``models/playbooks.yaml`` (or another file: ``--playbooks``, PROACTIVE_PLAYBOOKS_FILE)."""
    p = Path(path) if path else DEFAULT_PLAYBOOKS_PATH
    if not p.is_file():
        raise UserError(f"playbooks file {p} not found (--playbooks or PROACTIVE_PLAYBOOKS_FILE)")
    with open(p, encoding="utf-8") as fh:
        return parse_playbooks(yaml.safe_load(fh) or {})


def evaluate_rule(frame: pd.DataFrame, rule: Rule) -> pd.Series:
    """Boolean mask of the rows satisfying ``rule`` (a missing column or a null value never satisfies it)."""
    if rule.field not in frame.columns:
        if rule.op == "is_null":
            return pd.Series(True, index=frame.index)
        return pd.Series(False, index=frame.index)
    col = frame[rule.field]
    if rule.op == "is_null":
        return col.isna()
    if rule.op == "not_null":
        return col.notna()
    if rule.op in ("in", "not_in"):
        values = rule.value if isinstance(rule.value, tuple) else (rule.value,)
        m = col.isin(values)
        return (m if rule.op == "in" else ~m & col.notna()).fillna(False).astype(bool)
    ops = {
        ">": np.greater,
        ">=": np.greater_equal,
        "<": np.less,
        "<=": np.less_equal,
        "==": np.equal,
        "!=": np.not_equal,
    }
    notna = col.notna()
    if rule.op in ("==", "!="):
        res = pd.Series(ops[rule.op](col.astype(object), rule.value), index=frame.index)
    else:
        res = pd.Series(
            ops[rule.op](pd.to_numeric(col, errors="coerce"), float(rule.value)), index=frame.index
        )
    return (res.fillna(False).astype(bool)) & notna


def reasons_match(reasons: pd.Series, prefixes: tuple[str, ...]) -> pd.Series:
    """True where any reason code (a list per row) starts with one of ``prefixes``."""
    return reasons.map(lambda rs: any(str(r).startswith(prefixes) for r in (rs or []) if r))


def eligible(frame: pd.DataFrame, pb: Playbook) -> pd.Series:
    """Mask of the customers eligible for one playbook."""
    mask = pd.to_numeric(frame.get("score"), errors="coerce").fillna(-1.0) >= pb.min_score
    for r in pb.rules:
        mask &= evaluate_rule(frame, r)
    if pb.rules_any:
        any_mask = pd.Series(False, index=frame.index)
        for grp in pb.rules_any:
            g = pd.Series(True, index=frame.index)
            for r in grp:
                g &= evaluate_rule(frame, r)
            any_mask |= g
        mask &= any_mask
    if pb.reasons_any:
        mask &= reasons_match(frame["reasons"], pb.reasons_any)
    return mask.astype(bool)


def match_playbooks(frame: pd.DataFrame, config: PlaybookConfig) -> pd.DataFrame:
    """One row per customer that matches at least one playbook: the highest-priority one.

    ``frame`` has one row per customer (customer_id column); the columns playbook, action and priority are added.
    """
    chosen = pd.Series(pd.NA, index=frame.index, dtype=object)
    for pb in config.playbooks:  # sorted by priority: first match wins
        m = eligible(frame, pb) & chosen.isna()
        chosen[m] = pb.name
    out = frame.loc[chosen.notna()].copy()
    out["playbook"] = chosen[chosen.notna()].astype(str)
    out["action"] = out["playbook"].map({p.name: p.action for p in config.playbooks})
    out["priority"] = out["playbook"].map({p.name: p.priority for p in config.playbooks}).astype(int)
    return out.reset_index(drop=True)
