"""Email rendering: Jinja2 in a sandbox, autoescaped HTML, strict undefined variables, safe headers.

How 1000 different emails fit in one SendGrid request: a playbook variant's HTML and text templates are rendered
once per language (:func:`render_shared_content`) with substitution tags in place of the per-recipient values; each
personalization then carries its own ``substitutions`` (greeting, sign-off, the content blocks built from the
customer's facts -- escaped for HTML, plain for text -- and the signed token of its unsubscribe and rating links),
its own subject, RFC 8058 headers and ``custom_args`` = {send_key} only. SendGrid (and the local sink, with
:func:`apply_substitutions`) replaces the tags per recipient. :func:`render_email` applies the very same steps
locally: it is what ``preview`` shows. Dispatch sends one request per (template, language) of a claim.

Alternatively a playbook names a SendGrid dynamic template (``sendgrid_template_id``): the personalization
then carries ``dynamic_template_data`` (Handlebars: double braces only, see :func:`handlebars_problems`).

Two vocabularies never mix: the model's reason codes are for staff and never reach this module; an email says
only what its playbook's content blocks say, from :class:`~proactive_ml.outreach.facts.Facts` (see
:mod:`proactive_ml.outreach.content`). A block without its facts is left out, never rendered empty.

The template folder is the company's own (``PROACTIVE_TEMPLATES_DIR``) laid over the shipped ``templates/email``
(:mod:`proactive_ml.outreach.template_folder`): a file found in the company's folder wins, any other comes from
the shipped set.

A missing or unusable name (empty, a placeholder such as "Customer" or "N/A", no letter, an address) gives the neutral
greeting ("Hello," -- never "Hi Customer,"); a subject's ``{{ first_name }}`` is then left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import escape

from proactive_ml.delivery.substitution import apply_substitutions
from proactive_ml.identity import sign_token
from proactive_ml.outreach import content
from proactive_ml.outreach.facts import Facts
from proactive_ml.outreach.playbooks import BLOCKS, Playbook
from proactive_ml.outreach.safety import TAG, UnsafeContent, check_safe, safe_or_none
from proactive_ml.outreach.template_folder import DEFAULT_TEMPLATE_DIR, html_env, template_folder
from proactive_ml.settings import Settings

__all__ = ["DEFAULT_TEMPLATE_DIR", "TAG", "UnsafeContent", "check_safe", "html_env", "template_folder"]
TAGS = {
    "first_name_html": "%first_name_html%",
    "first_name_text": "%first_name_text%",
    "greeting_html": "%greeting_html%",
    "greeting_text": "%greeting_text%",
    "signoff_html": "%signoff_html%",
    "signoff_text": "%signoff_text%",
    "token": "%token%",
    **{f"block_{b}_{f}": f"%block_{b}_{f}%" for b in BLOCKS for f in ("html", "text")},
}
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$&'*+/=?^_`{|}~%-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
_HBS_TRIPLE = re.compile(r"\{\{\{|\{\{\s*&")
NEUTRAL_GREETING = "Hello,"
# Words that are not a person's name (what exports put in an empty name field), compared case-insensitively.
PLACEHOLDER_NAMES = frozenset(
    [
        "customer",
        "client",
        "user",
        "member",
        "guest",
        "unknown",
        "anonymous",
        "valued",
        "dear",
        "sir",
        "madam",
        "none",
        "null",
        "nan",
        "n/a",
        "na",
        "test",
        "there",
        "name",
        "firstname",
        "first_name",
        "account",
        "admin",
        "info",
        "kunde",
        "kundin",
        "cliente",
    ]
)


def check_email(value: str) -> str:
    """A plausible single address, or :class:`UnsafeContent`."""
    check_safe(value, "email")
    if not _EMAIL.match(value) or len(value) > 254:
        raise UnsafeContent("email", "invalid address")
    return value


def first_name_of(name: str | None) -> str:
    """The first word of a display name, without punctuation around it ('' when it is not usable as a name).

    Not usable: empty, a placeholder word (:data:`PLACEHOLDER_NAMES`), no letter at all, or an ``@`` (an address).
    """
    words = str(name or "").replace(",", " ").replace(";", " ").split()
    first = words[0].strip(".;,:\"'()[]<>") if words else ""
    if first.lower() in PLACEHOLDER_NAMES or not any(ch.isalpha() for ch in first) or "@" in first:
        return ""
    return first[:64]


def greeting_of(first_name: str, lang: str = content.DEFAULT_LANG) -> str:
    """'Hi Ada,' or, without a usable first name, the neutral greeting (:data:`NEUTRAL_GREETING` in English)."""
    return content.greeting(first_name, lang, str(DEFAULT_TEMPLATE_DIR))


def display_name(name: str | None) -> str:
    """The name for the ``to`` field: SendGrid refuses ';' and ',' there, so they become spaces."""
    return " ".join(str(name or "").replace(",", " ").replace(";", " ").split())[:128]


@lru_cache(maxsize=1)
def text_env() -> SandboxedEnvironment:
    """The sandboxed environment for subjects (plain text, strict undefined)."""
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


@lru_cache(maxsize=64)
def _subject_template(source: str) -> Any:
    return text_env().from_string(source)


@dataclass(frozen=True)
class SharedContent:
    """The text and HTML bodies of one template in one language, with substitution tags (one per request)."""

    text: str
    html: str


@dataclass(frozen=True)
class Brand:
    """Who writes: company, default sender, postal address, help centre, logo (from settings, checked)."""

    sender_name: str
    company_name: str
    postal_address: str
    help_url: str
    logo_url: str


def brand_of(settings: Settings) -> Brand:
    """The brand settings, each checked like any value that goes into an email."""
    return _brand(
        settings.sender_name,
        getattr(settings, "company_name", "") or settings.sender_name,
        settings.postal_address,
        getattr(settings, "help_centre_url", ""),
        getattr(settings, "logo_url", ""),
    )


@lru_cache(maxsize=16)
def _brand(sender_name: str, company_name: str, postal_address: str, help_url: str, logo_url: str) -> Brand:
    values = locals()
    return Brand(**{k: check_safe(str(v or ""), k) for k, v in values.items()})


def _links(base: str, token: str) -> tuple[str, list[tuple[int, str]]]:
    return f"{base}/u/{token}", [(s, f"{base}/r/{token}/{s}") for s in range(1, 6)]


@lru_cache(maxsize=128)
def _shared_content(template: str, lang: str, template_dir: str, base: str, brand: Brand) -> SharedContent:
    env = html_env(template_dir)
    unsubscribe, ratings = _links(base, TAGS["token"])
    common = {
        **brand.__dict__,
        "lang": lang,
        "unsubscribe_url": unsubscribe,
        "rating_links": ratings,
    }

    def tags(fmt: str) -> dict[str, Any]:
        # escape() of a tag (letters, digits, _ and %) is the tag itself, as Markup: autoescape leaves it in place.
        # The per-recipient value that replaces it is escaped by us (see personalize), never by Jinja.
        wrap = escape if fmt == "html" else str
        return {
            "first_name": wrap(TAGS[f"first_name_{fmt}"]),
            "greeting": wrap(TAGS[f"greeting_{fmt}"]),
            "signoff": wrap(TAGS[f"signoff_{fmt}"]),
            "blocks": {b: wrap(TAGS[f"block_{b}_{fmt}"]) for b in BLOCKS},
        }

    html = env.select_template([f"{lang}/{template}.html.j2", f"{template}.html.j2"]).render(
        **tags("html"), **common
    )
    text = env.select_template([f"{lang}/{template}.txt.j2", f"{template}.txt.j2"]).render(
        **tags("text"), **common
    )
    return SharedContent(text=text, html=html)


def render_shared_content(
    playbook: Playbook,
    settings: Settings,
    template_dir: Path | str | None = None,
    *,
    template: str | None = None,
    lang: str = content.DEFAULT_LANG,
) -> SharedContent:
    """Render a playbook's template (default: its own; a variant may name another) once, in ``lang``, with tags."""
    name = template or playbook.template
    if not name:
        raise ValueError(f"playbook {playbook.name} has no local template")
    return _shared_content(
        name,
        lang,
        str(template_dir or template_folder(settings)),
        _checked_base(settings.public_base_url),
        brand_of(settings),
    )


@lru_cache(maxsize=256)
def _subject_parts(source: str) -> tuple[str, ...]:
    """The subject template rendered once (sandboxed, strict) around a marker, split at the marker."""
    marker = "\x00FIRST_NAME\x00"
    return tuple(_subject_template(source).render(first_name=marker).split(marker))


def render_subject(playbook: Playbook, first_name: str, source: str | None = None) -> str:
    """The subject for one recipient (``source``: a variant's subject in a language), checked for header injection.

    The template is rendered once per subject (sandboxed, strict undefined) and the first name, a value, is put in
    place (never template source).
    """
    subject = first_name.join(_subject_parts(source or playbook.subject or "")).strip()
    if not first_name:  # "{{ first_name }}, thank you" without a name: "Thank you"
        subject = re.sub(r"\s+([,.!?;:])", r"\1", subject).lstrip(",.;:!? ").strip()
        subject = subject[:1].upper() + subject[1:]
    if not subject:
        raise UnsafeContent("subject", "empty subject")
    return check_safe(subject, "subject")


@dataclass
class Recipient:
    """What rendering needs about one planned send: address, name, the variant drawn and the customer's facts."""

    send_key: str
    email: str
    name: str | None
    facts: Facts | None = None
    variant: str | None = None


def content_key(r: Recipient, playbook: Playbook, template_dir: Path | str | None = None) -> tuple[str, str]:
    """(template, language) of the shared content a recipient's email uses: one request per key."""
    v = playbook.variant(r.variant)
    lang = content.language_of(r.facts.locale if r.facts else None, str(template_dir or DEFAULT_TEMPLATE_DIR))
    return str(v.template or playbook.template or ""), lang


def _signoff(facts: Facts | None, brand: Brand) -> tuple[str, str]:
    """(HTML, text) of the sign-off: the account's owner and the company when the owner is known."""
    owner = safe_or_none(facts.owner if facts else None, "owner")
    if owner and any(ch.isalpha() for ch in owner) and "@" not in owner:
        return f"{escape(owner)}<br>{escape(brand.company_name)}", f"{owner}\n{brand.company_name}"
    return str(escape(brand.sender_name)), brand.sender_name


def personalize(
    r: Recipient,
    playbook: Playbook,
    settings: Settings,
    template_dir: Path | str | None = None,
) -> dict[str, Any]:
    """The SendGrid personalization for one recipient (raises :class:`UnsafeContent` to refuse it)."""
    tdir = str(template_dir or template_folder(settings))
    email = check_email(str(r.email or "").strip())
    name = check_safe(str(r.name or ""), "name")
    first = first_name_of(name)  # a word of a checked name: nothing to add
    to: dict[str, str] = {"email": email}
    dn = display_name(name)
    if dn:
        to["name"] = dn
    if not _SEND_KEY.fullmatch(r.send_key):
        raise UnsafeContent("send_key", "not an opaque send key")
    token = sign_token(r.send_key, settings.signing_secret.get_secret_value())  # sk_<hex>.<hex>: safe
    base = _checked_base(settings.public_base_url)
    unsubscribe, ratings = _links(base, token)
    headers = {"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    brand = brand_of(settings)
    _, lang = content_key(r, playbook, tdir)
    variant = playbook.variant(r.variant)
    subject_source = _subject_source(tdir, lang, playbook, variant.name)
    hello = content.greeting(first, lang, tdir)
    values = content.fact_values(r.facts, lang, tdir, brand.help_url)
    blocks = content.render_blocks(playbook.blocks, values, lang, _env_getter(tdir))
    sign_html, sign_text = _signoff(r.facts, brand)
    p: dict[str, Any] = {"to": [to], "headers": headers, "custom_args": {"send_key": r.send_key}}
    if playbook.sendgrid_template_id:
        p["dynamic_template_data"] = {
            "first_name": first,
            "greeting": hello,
            "blocks": {b: f.text.strip() for b, f in blocks.items() if f.text},
            "signoff": sign_text,
            "unsubscribe_url": unsubscribe,
            "rating_urls": [u for _, u in ratings],
            "postal_address": brand.postal_address,
            "subject": render_subject(playbook, first, subject_source) if subject_source else "",
        }
        return p
    p["subject"] = render_subject(playbook, first, subject_source)
    subs = {
        TAGS["first_name_html"]: str(escape(first)),
        TAGS["first_name_text"]: first,
        TAGS["greeting_html"]: str(escape(hello)),
        TAGS["greeting_text"]: hello,
        TAGS["signoff_html"]: sign_html,
        TAGS["signoff_text"]: sign_text,
        TAGS["token"]: token,
    }
    for b in BLOCKS:
        f = blocks.get(b) or content.Fragment()
        subs[TAGS[f"block_{b}_html"]] = f.html
        subs[TAGS[f"block_{b}_text"]] = f.text
    p["substitutions"] = subs
    return p


def _subject_source(template_dir: str, lang: str, playbook: Playbook, variant: str) -> str | None:
    """The subject template: the template folder's own for the language, else the variant's, else the playbook's."""
    own = content.subject_words(template_dir, lang, playbook.name, variant)
    return own or playbook.variant(variant).subject_for(lang) or playbook.subject


_SEND_KEY = re.compile(r"sk_[0-9a-f]{8,64}")


@lru_cache(maxsize=8)
def _env_getter(template_dir: str) -> Callable[[], SandboxedEnvironment]:
    """A stable callable giving the template folder's environment (it keys the block render cache)."""
    return lambda: html_env(template_dir)


@lru_cache(maxsize=16)
def _checked_base(url: str) -> str:
    """The public base URL without a trailing slash, checked once (it goes into headers)."""
    return check_safe(url.rstrip("/"), "public_base_url")


@dataclass
class RenderedEmail:
    """Exactly what one recipient receives (and the request parts that produce it)."""

    to: list[dict[str, str]]
    subject: str
    text: str
    html: str
    headers: dict[str, str]
    custom_args: dict[str, str]
    categories: list[str]
    personalization: dict[str, Any] = field(default_factory=dict)
    variant: str = ""
    lang: str = content.DEFAULT_LANG


def render_email(
    r: Recipient,
    playbook: Playbook,
    settings: Settings,
    template_dir: Path | str | None = None,
) -> RenderedEmail:
    """Render one email the way it is sent (same functions as delivery), without sending. Used by ``preview``."""
    template_dir = template_dir or template_folder(settings)
    p = personalize(r, playbook, settings, template_dir)
    template, lang = content_key(r, playbook, template_dir)
    if template:
        shared = render_shared_content(playbook, settings, template_dir, template=template, lang=lang)
        subs = p.get("substitutions") or {}
        if "dynamic_template_data" in p:  # dynamic template: preview with the repo's Jinja twin of it
            d = p["dynamic_template_data"]
            subs = {t: "" for t in TAGS.values()} | {
                TAGS["first_name_html"]: str(escape(d["first_name"])),
                TAGS["first_name_text"]: d["first_name"],
                TAGS["greeting_html"]: str(escape(d["greeting"])),
                TAGS["greeting_text"]: d["greeting"],
                TAGS["signoff_html"]: str(escape(d["signoff"])),
                TAGS["signoff_text"]: d["signoff"],
                TAGS["token"]: sign_token(r.send_key, settings.signing_secret.get_secret_value()),
            }
            subs.update({TAGS[f"block_{b}_text"]: t + "\n\n" for b, t in d["blocks"].items()})
            subs.update({TAGS[f"block_{b}_html"]: f"<p>{escape(t)}</p>" for b, t in d["blocks"].items()})
        text, html = apply_substitutions(shared.text, subs), apply_substitutions(shared.html, subs)
    else:
        text = html = ""
    subject = p.get("subject") or p.get("dynamic_template_data", {}).get("subject", "")
    variant = playbook.variant(r.variant).name
    return RenderedEmail(
        p["to"], subject, text, html, p["headers"], p["custom_args"], [playbook.name], p, variant, lang
    )


def handlebars_problems(source: str) -> list[str]:
    """Unsafe constructs in a SendGrid dynamic (Handlebars) template: triple braces or ``{{& x}}`` output raw."""
    return [
        f"line {source.count(chr(10), 0, m.start()) + 1}: raw output {m.group(0)!r}"
        for m in _HBS_TRIPLE.finditer(source)
    ]
