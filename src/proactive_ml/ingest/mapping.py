"""Load and check a company's ``sources.yaml``: its files per dataset and how their columns become the contract's.

The format is described in ``docs/bring-your-own-data.md`` (and ``SOURCES_FORMAT`` in the issue).

Every problem is a :class:`~proactive_ml.errors.UserError` naming the file and the YAML key
(``sources.yaml: datasets.customers.columns.signup_date.fromat: unknown key``). Unknown keys are refused at every
level, so a typo never silently drops a column. YAML scalars are read as text (``Yes``, ``No``, ``TRUE`` and
``01`` stay what they look like), so true/false lists and constants mean exactly what is written.
"""

from __future__ import annotations

import codecs
import os
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from proactive_ml.contract import DATASETS, Dataset
from proactive_ml.errors import UserError
from proactive_ml.validation.rules import parse_column

FORMATS = ("csv", "parquet", "jsonl")
TYPES = ("string", "int", "float", "bool", "date", "timestamp")
KINDS = ("numeric", "categorical")
_TOP_KEYS = ("company", "landing_dir", "datasets")
_DATASET_KEYS = (
    "files",
    "format",
    "delimiter",
    "encoding",
    "decimal",
    "header",
    "names",
    "columns",
    "attributes",
    "label",
    "aggregate",
    "event_id",
)
_COLUMN_KEYS = ("from", "constant", "format", "true", "false", "type")
_ATTRIBUTE_KEYS = ("from", "kind", "reason")
_LABEL_KEYS = ("from", "true", "false")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TRUE_WORDS = ("true", "yes", "y", "1", "on")
_FALSE_WORDS = ("false", "no", "n", "0", "off")


class _TextLoader(yaml.SafeLoader):
    """SafeLoader that keeps every plain scalar as text (no YAML 1.1 booleans, numbers or dates)."""


_TextLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag == "tag:yaml.org,2002:null"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class ColumnSpec:
    """How one contract column (or attribute, or the label) is obtained from a source row."""

    target: str
    source: str | None = None  # the company's column
    constant: str | None = None
    format: str | None = None  # strptime format for date/timestamp
    true: tuple[str, ...] = ()
    false: tuple[str, ...] = ()
    type: str = "string"  # the type the value is cast to
    kind: str = ""  # attributes: numeric | categorical
    reason: str = ""  # attributes: reason text with {value}


@dataclass(frozen=True)
class DatasetMapping:
    """One dataset of the mapping."""

    name: str
    files: tuple[str, ...]
    format: str = "csv"
    delimiter: str = ","
    encoding: str = "utf-8"
    decimal: str = "."
    header: bool = True
    names: tuple[str, ...] = ()
    columns: dict[str, ColumnSpec] = field(default_factory=dict)
    attributes: dict[str, ColumnSpec] = field(default_factory=dict)
    label: ColumnSpec | None = None
    aggregate: str | None = None
    event_id: str | None = None

    @property
    def source_columns(self) -> list[str]:
        """Every company column the mapping reads (structural check: each must exist in a file)."""
        specs = [*self.columns.values(), *self.attributes.values()]
        if self.label is not None:
            specs.append(self.label)
        cols = [s.source for s in specs if s.source]
        if self.event_id:
            cols.append(self.event_id)
        return list(dict.fromkeys(cols))


@dataclass(frozen=True)
class SourcesConfig:
    """A loaded sources.yaml."""

    path: Path
    company: str
    landing_dir: Path
    datasets: dict[str, DatasetMapping]


class KeyContext:
    """Names the file and the YAML key in every error."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> UserError:
        """An error naming the file and the key."""
        return UserError(f"{self.path}: {key}: {message}")

    def mapping(self, value: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        """A YAML mapping whose keys are all in ``allowed``."""
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping with keys {list(allowed)}, got {_what(value)}")
        for k in value:
            if str(k) not in allowed:
                raise self.fail(
                    f"{key}.{k}" if key else str(k), f"unknown key (allowed: {', '.join(allowed)})"
                )
        return {str(k): v for k, v in value.items()}

    def text(self, value: Any, key: str) -> str:
        """Non-empty text."""
        if not isinstance(value, str) or value == "":
            raise self.fail(key, f"expected text, got {_what(value)}")
        return value

    def texts(self, value: Any, key: str) -> tuple[str, ...]:
        """A non-empty list of texts (one text counts as a list of one)."""
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self.fail(key, f"expected a list of values, got {_what(value)}")
        return tuple(self.text(v, f"{key}[{i}]") for i, v in enumerate(value))

    def flag(self, value: Any, key: str) -> bool:
        """true/false (also yes/no, on/off, 1/0)."""
        word = str(value).strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        raise self.fail(key, f"expected true or false, got {value!r}")

    def choice(self, value: Any, key: str, allowed: tuple[str, ...]) -> str:
        """One of ``allowed``."""
        v = self.text(value, key)
        if v not in allowed:
            raise self.fail(key, f"{v!r} is not one of {', '.join(allowed)}")
        return v


def _what(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"[:80]


def expand_env(text: str, ctx: KeyContext, key: str) -> str:
    """Replace ``${NAME}`` by the environment variable (an unset one is an error naming the key)."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in os.environ:
            raise ctx.fail(key, f"environment variable {m.group(1)} is not set")
        return os.environ[m.group(1)]

    return _ENV.sub(sub, text)


def load_sources(path: str | Path) -> SourcesConfig:
    """Read and check a sources.yaml; every error names the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such sources file")
    ctx = KeyContext(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_TextLoader)  # noqa: S506 - safe subclass
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid YAML: {exc}") from None
    top = ctx.mapping(data, "", _TOP_KEYS)
    if "datasets" not in top:
        raise ctx.fail("datasets", "missing: map at least one dataset")
    raw_sets = ctx.mapping(top["datasets"], "datasets", tuple(DATASETS))
    if not raw_sets:
        raise ctx.fail("datasets", "no dataset is mapped")
    landing = Path(expand_env(ctx.text(top.get("landing_dir", "."), "landing_dir"), ctx, "landing_dir"))
    datasets = {name: _dataset(ctx, name, spec) for name, spec in raw_sets.items()}
    customers = datasets.get("customers")
    if customers is not None and "signup_date" not in customers.columns and "usage_events" not in datasets:
        raise ctx.fail(
            "datasets.customers.columns.signup_date",
            "missing: map it, give a constant, or map usage_events so it is each customer's first event date",
        )
    return SourcesConfig(
        path=path,
        company=str(top.get("company") or path.resolve().parent.name),
        landing_dir=landing if landing.is_absolute() else (path.parent / landing),
        datasets=datasets,
    )


def _dataset(ctx: KeyContext, name: str, spec: Any) -> DatasetMapping:
    key = f"datasets.{name}"
    d = ctx.mapping(spec, key, _DATASET_KEYS)
    ds = DATASETS[name]
    if "files" not in d:
        raise ctx.fail(f"{key}.files", "missing: a glob of the dataset's files")
    fmt = ctx.choice(d.get("format", "csv"), f"{key}.format", FORMATS)
    header = ctx.flag(d.get("header", "true"), f"{key}.header")
    names = ctx.texts(d["names"], f"{key}.names") if "names" in d else ()
    if not header and not names and fmt == "csv":
        raise ctx.fail(f"{key}.names", "missing: a file without a header needs the list of its column names")
    if "columns" not in d:
        raise ctx.fail(f"{key}.columns", "missing: map the contract columns")
    cols = ctx.mapping(d["columns"], f"{key}.columns", tuple(ds.column_names))
    columns = {c: _column(ctx, ds, c, v, f"{key}.columns.{c}") for c, v in cols.items()}
    _check_required(ctx, ds, columns, key)
    mapping = DatasetMapping(
        name=name,
        files=ctx.texts(d["files"], f"{key}.files"),
        format=fmt,
        delimiter=_delimiter(ctx, d.get("delimiter", ","), f"{key}.delimiter"),
        encoding=_encoding(ctx, d.get("encoding", "utf-8"), f"{key}.encoding"),
        decimal=ctx.choice(d.get("decimal", "."), f"{key}.decimal", (".", ",")),
        header=header,
        names=names,
        columns=columns,
        attributes=_attributes(ctx, name, d.get("attributes"), f"{key}.attributes"),
        label=_label(ctx, name, d.get("label"), f"{key}.label"),
        aggregate=_aggregate(ctx, name, d.get("aggregate"), f"{key}.aggregate"),
        event_id=_event_id(ctx, name, d, f"{key}.event_id"),
    )
    return mapping


def _check_required(ctx: KeyContext, ds: Dataset, columns: dict[str, ColumnSpec], key: str) -> None:
    """Every required contract column is mapped (``signup_date`` may be derived from the first event)."""
    for c in ds.required_columns:
        if c in columns or (ds.name == "customers" and c == "signup_date"):
            continue
        raise ctx.fail(f"{key}.columns.{c}", f"missing: {c} is required in {ds.name}")


def _column(ctx: KeyContext, ds: Dataset, target: str, spec: Any, key: str) -> ColumnSpec:
    ctype = ds.column(target).type
    if isinstance(spec, str):
        return ColumnSpec(target, source=spec, type=ctype)
    d = ctx.mapping(spec, key, _COLUMN_KEYS)
    if ("from" in d) == ("constant" in d):
        raise ctx.fail(key, "give exactly one of `from` (a column of the file) or `constant`")
    t = ctx.choice(d.get("type", ctype), f"{key}.type", TYPES)
    if t != ctype:
        raise ctx.fail(f"{key}.type", f"{target} is a {ctype} column of the contract, not {t}")
    if "format" in d and t not in ("date", "timestamp"):
        raise ctx.fail(f"{key}.format", f"a date format applies to date/timestamp columns; {target} is {t}")
    if ("true" in d or "false" in d) and t != "bool":
        raise ctx.fail(f"{key}.true", f"true/false lists apply to bool columns; {target} is {t}")
    if "constant" in d:
        const = ctx.text(d["constant"], f"{key}.constant")
        _, bad = parse_column(pa.array([const], pa.string()), t)
        if bad.any():
            raise ctx.fail(f"{key}.constant", f"{const!r} is not a valid {t}")
        return ColumnSpec(target, constant=const, type=t)
    true, false = _true_false(ctx, d, key, both=False)
    return ColumnSpec(
        target,
        source=ctx.text(d["from"], f"{key}.from"),
        format=ctx.text(d["format"], f"{key}.format") if "format" in d else None,
        true=true,
        false=false,
        type=t,
    )


def _true_false(
    ctx: KeyContext, d: dict[str, Any], key: str, both: bool
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if both or "true" in d or "false" in d:
        for k in ("true", "false"):
            if k not in d:
                raise ctx.fail(f"{key}.{k}", "missing: give both a `true` and a `false` list")
        true, false = ctx.texts(d["true"], f"{key}.true"), ctx.texts(d["false"], f"{key}.false")
        overlap = {t.casefold() for t in true} & {f.casefold() for f in false}
        if overlap:
            raise ctx.fail(key, f"{sorted(overlap)} is in both the true and the false list")
        return true, false
    return (), ()


def _attributes(ctx: KeyContext, dataset: str, spec: Any, key: str) -> dict[str, ColumnSpec]:
    if spec is None:
        return {}
    if dataset != "customers":
        raise ctx.fail(key, "attributes belong to the customers dataset")
    if not isinstance(spec, dict):
        raise ctx.fail(key, f"expected a mapping of attribute names, got {_what(spec)}")
    out: dict[str, ColumnSpec] = {}
    for name, v in spec.items():
        k = f"{key}.{name}"
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(name)):
            raise ctx.fail(k, "an attribute name is letters, digits and _ (it becomes a feature name)")
        if str(name) in DATASETS["customers"].column_names:
            raise ctx.fail(k, f"{name} is a contract column: map it under columns")
        d = ctx.mapping(v, k, _ATTRIBUTE_KEYS)
        if "from" not in d or "kind" not in d:
            raise ctx.fail(k, "needs `from` (a column of the file) and `kind` (numeric or categorical)")
        kind = ctx.choice(d["kind"], f"{k}.kind", KINDS)
        out[str(name)] = ColumnSpec(
            str(name),
            source=ctx.text(d["from"], f"{k}.from"),
            type="float" if kind == "numeric" else "string",
            kind=kind,
            reason=_reason_text(ctx, d["reason"], f"{k}.reason", kind) if "reason" in d else "",
        )
    return out


def _reason_text(ctx: KeyContext, value: Any, key: str, kind: str) -> str:
    """A reason text that formats: ``{value}`` (``{value:.0f}`` for a number) and ``{s}``, checked on load.

    A typo (``{valeu}``) or a number format on text would otherwise stop ``score`` with a traceback, after ingest
    and training had run.
    """
    text = ctx.text(value, key)
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as exc:
        raise ctx.fail(key, f"not a reason text ({exc}); write the value as {{value}}") from None
    unknown = sorted(fields - {"value", "s"})
    if unknown:
        shown = "{" + unknown[0] + "}" if unknown[0] else "{}"
        raise ctx.fail(
            key,
            f"unknown field {shown}: a reason text knows {{value}} and {{s}} (an s when a count is not 1)",
        )
    try:
        text.format(value=1.5 if kind == "numeric" else "Month-to-month", s="s")
    except (ValueError, TypeError) as exc:
        hint = "{value:.0f} or {value:.1f}" if kind == "numeric" else "{value} (a text has no number format)"
        raise ctx.fail(key, f"{exc}: for a {kind} attribute write {hint}") from None
    return text


def _label(ctx: KeyContext, dataset: str, spec: Any, key: str) -> ColumnSpec | None:
    if spec is None:
        return None
    if dataset != "customers":
        raise ctx.fail(key, "a snapshot label belongs to the customers dataset")
    d = ctx.mapping(spec, key, _LABEL_KEYS)
    if "from" not in d:
        raise ctx.fail(f"{key}.from", "missing: the column holding the churn flag")
    true, false = _true_false(ctx, d, key, both=True)
    return ColumnSpec("label", source=ctx.text(d["from"], f"{key}.from"), true=true, false=false, type="bool")


def _aggregate(ctx: KeyContext, dataset: str, spec: Any, key: str) -> str | None:
    if spec is None:
        return None
    if dataset != "usage_events":
        raise ctx.fail(key, "aggregation applies to usage_events")
    return ctx.choice(spec, key, ("sum",))


def _event_id(ctx: KeyContext, dataset: str, d: dict[str, Any], key: str) -> str | None:
    if "event_id" not in d:
        return None
    if dataset != "usage_events":
        raise ctx.fail(key, "event ids apply to usage_events")
    if "aggregate" in d:
        raise ctx.fail(key, "use either `aggregate: sum` or `event_id`, not both")
    if "event_id" in (d.get("columns") or {}):
        raise ctx.fail(key, "event_id is given here; remove it from columns")
    return ctx.text(d["event_id"], key)


def _delimiter(ctx: KeyContext, value: Any, key: str) -> str:
    if not isinstance(value, str) or value == "":
        raise ctx.fail(key, f"expected a delimiter (any text, or the word whitespace), got {_what(value)}")
    return value.replace("\\t", "\t")


def _encoding(ctx: KeyContext, value: Any, key: str) -> str:
    enc = ctx.text(value, key)
    try:
        codecs.lookup(enc)
    except LookupError:
        raise ctx.fail(key, f"{enc!r} is not a known text encoding (e.g. utf-8, latin-1, cp1252)") from None
    return enc
