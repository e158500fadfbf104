"""Customer-facing content: the language of an email, its words, and the content blocks built from facts.

A playbook declares its blocks (``blocks:`` in ``models/playbooks.yaml``, one of
:data:`~proactive_ml.outreach.playbooks.BLOCKS`); each block is rendered per recipient from
:class:`~proactive_ml.outreach.facts.Facts` by ``_blocks.html.j2`` / ``_blocks.txt.j2`` of the recipient's
language, and is left out entirely (an empty string) when the facts it needs are missing. Dates and numbers are
formatted for the language with Babel. Languages: every sub-folder of the template folder that has a
``words.yaml`` entry; anything else falls back to English.

A company's own template folder (``PROACTIVE_TEMPLATES_DIR``) overrides the shipped one file by file: a template
it holds replaces the shipped template of the same name, the others stay, and its ``words.yaml`` replaces the words
it names (a language's greeting, one category, one feature) and keeps the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from babel.dates import format_date
from babel.lists import format_list
from babel.units import format_unit
from jinja2 import Environment

from proactive_ml.errors import UserError
from proactive_ml.outreach.facts import Facts
from proactive_ml.outreach.safety import safe_or_none
from proactive_ml.settings import PROJECT_ROOT

DEFAULT_LANG = "en"
DEFAULT_TEMPLATE_DIR = PROJECT_ROOT / "templates" / "email"
# the facts each block needs (any one of a tuple's names is enough); a block without them is left out
REQUIRES: dict[str, tuple[str, ...]] = {
    "open_ticket": ("ticket_subject", "ticket_category"),
    "next_step": ("next_feature",),
    "renewal": ("renewal_date",),
    "usage_recap": ("top_features",),
    "help_centre": ("help_url",),
}


@lru_cache(maxsize=8)
def words(template_dir: str) -> dict[str, dict[str, Any]]:
    """The words per language: the shipped ``words.yaml`` with the template folder's own laid over it.

    Per language: greeting, greeting_neutral, categories, features; a mapping such as ``features`` is merged name
    by name, so a company's file names only the words it changes.
    """
    merged = _read_words(DEFAULT_TEMPLATE_DIR)
    if Path(template_dir).resolve() != DEFAULT_TEMPLATE_DIR.resolve():
        for lang, ours in _read_words(Path(template_dir)).items():
            base = dict(merged.get(lang) or {})
            for key, value in (ours or {}).items():
                both = isinstance(value, dict) and isinstance(base.get(key), dict)
                base[key] = {**base[key], **value} if both else value
            merged[lang] = base
    return merged


def _read_words(folder: Path) -> dict[str, dict[str, Any]]:
    """A folder's ``words.yaml`` (language -> words); a file that is not such a mapping is a :class:`UserError`."""
    path = folder / "words.yaml"
    if not path.exists():
        return {DEFAULT_LANG: {}}
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {DEFAULT_LANG: {}}
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f", line {where.line + 1}" if where is not None else ""
        raise UserError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    bad = [k for k, v in data.items() if not isinstance(v, dict)] if isinstance(data, dict) else ["(top)"]
    if bad:
        raise UserError(
            f"{path}: expected a mapping of languages to words (en: greeting: ...); {bad[0]} is not one"
        )
    return dict(data)


@lru_cache(maxsize=8)
def languages(template_dir: str) -> tuple[str, ...]:
    """The languages with words and templates (in ``template_dir`` or the shipped folder), English first."""
    folders = (Path(template_dir), DEFAULT_TEMPLATE_DIR)
    others = sorted(
        lang
        for lang in words(template_dir)
        if lang != DEFAULT_LANG and any((f / lang).is_dir() for f in folders)
    )
    return (DEFAULT_LANG, *others)


def language_of(locale: str | None, template_dir: str) -> str:
    """The template language for a customer's locale ('de-DE', 'de_AT', 'DE' -> 'de'); English when unknown."""
    lang = str(locale or "").strip().replace("_", "-").split("-")[0].lower()
    return lang if lang in languages(template_dir) else DEFAULT_LANG


def _w(template_dir: str, lang: str) -> dict[str, Any]:
    all_words = words(template_dir)
    return {**all_words.get(DEFAULT_LANG, {}), **all_words.get(lang, {})}


def subject_words(template_dir: str, lang: str, playbook: str, variant: str) -> str | None:
    """A template folder's own subject for a playbook's variant (``subjects:`` in words.yaml), else None.

    Keys: ``<playbook>.<variant>`` (one variant) before ``<playbook>`` (all of them), in the email's own language
    only (an English subject never heads a German email); the playbook's own subject applies otherwise.
    """
    subjects = (words(template_dir).get(lang) or {}).get("subjects") or {}
    found = subjects.get(f"{playbook}.{variant}") or subjects.get(playbook)
    return str(found) if found else None


def greeting(first_name: str, lang: str, template_dir: str) -> str:
    """'Hi Ada,' in the language, or its neutral greeting without a usable first name."""
    w = _w(template_dir, lang)
    if not first_name:
        return str(w.get("greeting_neutral", "Hello,"))
    return str(w.get("greeting", "Hi {name},")).replace("{name}", first_name)


def feature_words(feature: str, lang: str, template_dir: str) -> str:
    """A product feature in customer words ('report_export' -> 'report exports')."""
    known = _w(template_dir, lang).get("features") or {}
    return str(known.get(feature) or feature.replace("_", " ").strip())


def fact_values(facts: Facts | None, lang: str, template_dir: str, help_url: str = "") -> dict[str, Any]:
    """The facts as the words and formats of ``lang`` (missing or unsafe facts: None / empty)."""
    f = facts or Facts()
    w = _w(template_dir, lang)
    cats = w.get("categories") or {}
    top = [feature_words(x, lang, template_dir) for x in f.top_features]
    cat = f.ticket_category
    return {
        "ticket_subject": safe_or_none(f.ticket_subject, "ticket subject"),
        "ticket_category": safe_or_none(str(cats.get(cat) or cat.replace("_", " ")), "category")
        if cat
        else None,
        "ticket_age": (
            format_unit(f.ticket_age_days, "duration-day", locale=lang)
            if f.ticket_age_days is not None
            else None
        ),
        "ticket_age_days": f.ticket_age_days,
        "ticket_assignee": safe_or_none(f.ticket_assignee, "assignee"),
        "next_feature": (
            safe_or_none(feature_words(f.next_feature, lang, template_dir), "feature")
            if f.next_feature
            else None
        ),
        "renewal_date": _date(f.renewal_date, lang) if f.renewal_date else None,
        "top_features": safe_or_none(_list(tuple(top), lang), "features") if top else None,
        "help_url": safe_or_none(help_url, "help_centre_url") or None,
    }


# the values each block's wording reads (the key of its render cache)
READS: dict[str, tuple[str, ...]] = {
    "open_ticket": ("ticket_subject", "ticket_category", "ticket_age", "ticket_age_days", "ticket_assignee"),
    "next_step": ("next_feature",),
    "renewal": ("renewal_date",),
    "usage_recap": ("top_features",),
    "help_centre": ("help_url",),
}


@lru_cache(maxsize=64)
def _date(d: date, lang: str) -> str:
    return str(format_date(d, format="long", locale=lang))


@lru_cache(maxsize=64)
def _days(n: int, lang: str) -> str:
    return str(format_unit(n, "duration-day", locale=lang))


@lru_cache(maxsize=1024)
def _list(items: tuple[str, ...], lang: str) -> str:
    return str(format_list(list(items), locale=lang))


def has_facts(block: str, values: dict[str, Any]) -> bool:
    """True when ``values`` hold what ``block`` needs."""
    return any(values.get(k) for k in REQUIRES.get(block, ()))


@dataclass(frozen=True)
class Fragment:
    """One rendered block: its HTML and its plain text (both empty: the block is left out)."""

    html: str = ""
    text: str = ""


def render_blocks(
    blocks: tuple[str, ...],
    values: dict[str, Any],
    lang: str,
    env_for: Callable[[], Environment],
) -> dict[str, Fragment]:
    """Every declared block whose facts are known, rendered in ``lang``; the others map to an empty fragment."""
    out: dict[str, Fragment] = {}
    for b in blocks:
        if not has_facts(b, values):
            out[b] = Fragment()
            continue
        key = tuple((k, values.get(k)) for k in READS.get(b, ()))
        out[b] = _render_block(b, key, lang, env_for)
    return out


@lru_cache(maxsize=8192)
def _render_block(
    block: str, key: tuple[tuple[str, Any], ...], lang: str, env_for: Callable[[], Environment]
) -> Fragment:
    env, f = env_for(), dict(key)
    html = env.select_template([f"{lang}/_blocks.html.j2", "_blocks.html.j2"]).render(block=block, f=f)
    text = env.select_template([f"{lang}/_blocks.txt.j2", "_blocks.txt.j2"]).render(block=block, f=f)
    html, text = html.strip(), text.strip()
    return Fragment(html, text + "\n\n") if html and text else Fragment()
