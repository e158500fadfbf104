"""Email rendering: Jinja2 in a sandbox, autoescaped HTML, strict undefined variables, safe headers.

How 1000 different emails fit in one SendGrid request: the playbook's HTML and text templates are rendered once
(:func:`render_shared_content`) with substitution tags in place of the per-recipient values; each
personalization then carries its own ``substitutions`` (greeting and reasons block, already escaped for HTML and
plain for text, the signed token of its unsubscribe and rating links), its own subject, RFC 8058 headers and
``custom_args`` = {send_key} only. SendGrid (and the local sink, with :func:`apply_substitutions`) replaces
the tags per recipient. :func:`render_email` applies the very same steps locally: it is what ``preview`` shows.

Alternatively a playbook names a SendGrid dynamic template (``sendgrid_template_id``): the personalization
then carries ``dynamic_template_data`` (Handlebars: double braces only, see :func:`handlebars_problems`).

Customer data never becomes template source: it is only ever a value. Values that could inject headers (CR, LF,
NUL, encoded newlines) or substitution tags are refused with :class:`UnsafeContent` (the message is
dead-lettered with that reason).

A missing or unusable name (empty, a placeholder such as "Customer" or "N/A", no letter, an address) gives the neutral
greeting "Hello," (never "Hi Customer,"); a subject's ``{{ first_name }}`` is then left out. A customer with no
reason to show gets no "Why we are writing:" block at all (never an empty one); reasons meant for staff only
(:data:`STAFF_ONLY_REASONS`) are never shown to customers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import escape

from proactive_ml.delivery.substitution import apply_substitutions
from proactive_ml.identity import sign_token
from proactive_ml.outreach.playbooks import Playbook, reason_phrases
from proactive_ml.settings import PROJECT_ROOT, Settings

DEFAULT_TEMPLATE_DIR = PROJECT_ROOT / "templates" / "email"
TAG = re.compile(r"%[a-z0-9_]+%")
TAGS = {
    "first_name_html": "%first_name_html%",
    "first_name_text": "%first_name_text%",
    "greeting_html": "%greeting_html%",
    "greeting_text": "%greeting_text%",
    "reasons_html": "%reasons_html%",
    "reasons_text": "%reasons_text%",
    "token": "%token%",
}
# CR, LF, NUL and other line breaks; URL-, backslash-, HTML-entity- and MIME-encoded newlines.
_UNSAFE = re.compile(
    r"[\r\n\x00\x0b\x0c\x85\u2028\u2029]|%0[ad]|%00|\\[rn0]|\\x0[ad]|\\u000[ad]|&#0*1[03];?|&#x0*[ad];?|=\?[^?]*\?[qb]\?",
    re.IGNORECASE,
)
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$&'*+/=?^_`{|}~%-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
_PLAIN = re.compile(r"[A-Za-z0-9 .,:;!?'()<>/@_+-]*")
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
    ]
)
STAFF_ONLY_REASONS = (
    "overall profile",
)  # reason texts (prefixes) for staff, never put in a customer's email


class UnsafeContent(ValueError):
    """A value that must not go into an email (the message is refused and dead-lettered)."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"refused: {reason} in {field_name}")
        self.field_name = field_name
        self.reason = reason


def check_safe(value: str, field_name: str) -> str:
    """``value`` unchanged, or :class:`UnsafeContent` if it holds CR/LF/NUL, encoded newlines or substitution tags."""
    if value.isalnum() or (value.isascii() and _PLAIN.fullmatch(value)):  # fast path: nothing to look at
        return value
    if _UNSAFE.search(value):
        raise UnsafeContent(field_name, "line break, NUL or encoded newline")
    if TAG.search(value):
        raise UnsafeContent(field_name, "substitution tag")
    return value


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


def greeting_of(first_name: str) -> str:
    """'Hi Ada,' or, without a usable first name, the neutral :data:`NEUTRAL_GREETING`."""
    return f"Hi {first_name}," if first_name else NEUTRAL_GREETING


def display_name(name: str | None) -> str:
    """The name for the ``to`` field: SendGrid refuses ';' and ',' there, so they become spaces."""
    return " ".join(str(name or "").replace(",", " ").replace(";", " ").split())[:128]


@lru_cache(maxsize=8)
def html_env(template_dir: str) -> SandboxedEnvironment:
    """The sandboxed Jinja environment for the repo's email templates (autoescape for .html templates)."""
    return SandboxedEnvironment(
        loader=FileSystemLoader(template_dir),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2", "htm"), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


@lru_cache(maxsize=1)
def text_env() -> SandboxedEnvironment:
    """The sandboxed environment for subjects (plain text, strict undefined)."""
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


@lru_cache(maxsize=64)
def _subject_template(source: str) -> Any:
    return text_env().from_string(source)


@dataclass(frozen=True)
class SharedContent:
    """The playbook's text and HTML bodies with substitution tags (one per request)."""

    text: str
    html: str


def _links(base: str, token: str) -> tuple[str, list[tuple[int, str]]]:
    return f"{base}/u/{token}", [(s, f"{base}/r/{token}/{s}") for s in range(1, 6)]


@lru_cache(maxsize=64)
def _shared_content(
    template: str, template_dir: str, base: str, sender_name: str, postal: str
) -> SharedContent:
    env = html_env(template_dir)
    unsubscribe, ratings = _links(base, TAGS["token"])
    common = {
        "sender_name": sender_name,
        "postal_address": postal,
        "unsubscribe_url": unsubscribe,
        "rating_links": ratings,
    }
    # escape() of a tag (letters, digits, _ and %) is the tag itself, as Markup: autoescape leaves it in place.
    # The per-recipient value that replaces it is escaped by us (see personalize), never by Jinja.
    html = env.get_template(f"{template}.html.j2").render(
        first_name=escape(TAGS["first_name_html"]),
        greeting=escape(TAGS["greeting_html"]),
        reasons_html=escape(TAGS["reasons_html"]),
        **common,
    )
    text = env.get_template(f"{template}.txt.j2").render(
        first_name=TAGS["first_name_text"],
        greeting=TAGS["greeting_text"],
        reasons_text=TAGS["reasons_text"],
        **common,
    )
    return SharedContent(text=text, html=html)


def render_shared_content(
    playbook: Playbook, settings: Settings, template_dir: Path | str | None = None
) -> SharedContent:
    """Render the playbook's templates once, with substitution tags for the per-recipient values."""
    if not playbook.template:
        raise ValueError(f"playbook {playbook.name} has no local template")
    base = settings.public_base_url.rstrip("/")
    for v, f in (
        (base, "public_base_url"),
        (settings.sender_name, "sender_name"),
        (settings.postal_address, "postal"),
    ):
        check_safe(v, f)
    return _shared_content(
        playbook.template,
        str(template_dir or DEFAULT_TEMPLATE_DIR),
        base,
        settings.sender_name,
        settings.postal_address,
    )


@lru_cache(maxsize=4096)
def _reasons_blocks(reasons: tuple[str, ...], template_dir: str) -> tuple[str, str]:
    """(HTML, text) of the "Why we are writing" block: both empty when there is no reason (no empty block)."""
    if not reasons:
        return "", ""
    env = html_env(template_dir)
    html = env.get_template("_reasons.html.j2").render(reasons=list(reasons)).strip()
    text = env.get_template("_reasons.txt.j2").render(reasons=list(reasons)).strip("\n")
    return html, text + "\n\n"


@lru_cache(maxsize=256)
def _subject_parts(source: str) -> tuple[str, ...]:
    """The subject template rendered once (sandboxed, strict) around a marker, split at the marker."""
    marker = "\x00FIRST_NAME\x00"
    return tuple(_subject_template(source).render(first_name=marker).split(marker))


def render_subject(playbook: Playbook, first_name: str) -> str:
    """The subject for one recipient, checked for header injection.

    The template is rendered once per playbook (sandboxed, strict undefined) and the first name, a value, is put in
    place (never template source).
    """
    subject = first_name.join(_subject_parts(playbook.subject or "")).strip()
    if not first_name:  # "{{ first_name }}, thank you" without a name: "Thank you"
        subject = re.sub(r"\s+([,.!?;:])", r"\1", subject).lstrip(",.;:!? ").strip()
        subject = subject[:1].upper() + subject[1:]
    if not subject:
        raise UnsafeContent("subject", "empty subject")
    return check_safe(subject, "subject")


@dataclass
class Recipient:
    """What rendering needs about one planned send."""

    send_key: str
    email: str
    name: str | None
    reasons: tuple[str, ...] = ()


def personalize(
    r: Recipient,
    playbook: Playbook,
    settings: Settings,
    reason_texts: Mapping[str, str],
    template_dir: Path | str | None = None,
) -> dict[str, Any]:
    """The SendGrid personalization for one recipient (raises :class:`UnsafeContent` to refuse it)."""
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
    rt = _RT_CACHE.get(id(reason_texts))
    if rt is None or rt[0] is not reason_texts:
        rt = (reason_texts, tuple(sorted(reason_texts.items())))
        _RT_CACHE[id(reason_texts)] = rt
    phrases = _phrases(tuple(r.reasons), rt[1])
    p: dict[str, Any] = {"to": [to], "headers": headers, "custom_args": {"send_key": r.send_key}}
    if playbook.sendgrid_template_id:
        p["dynamic_template_data"] = {
            "first_name": first,
            "greeting": greeting_of(first),
            "reasons": list(phrases),
            "unsubscribe_url": unsubscribe,
            "rating_urls": [u for _, u in ratings],
            "postal_address": settings.postal_address,
            "subject": render_subject(playbook, first) if playbook.subject else "",
        }
        return p
    p["subject"] = render_subject(playbook, first)
    html_reasons, text_reasons = _reasons_blocks(phrases, str(template_dir or DEFAULT_TEMPLATE_DIR))
    p["substitutions"] = {
        TAGS["first_name_html"]: str(escape(first)),
        TAGS["first_name_text"]: first,
        TAGS["greeting_html"]: str(escape(greeting_of(first))),
        TAGS["greeting_text"]: greeting_of(first),
        TAGS["reasons_html"]: html_reasons,
        TAGS["reasons_text"]: text_reasons,
        TAGS["token"]: token,
    }
    return p


_RT_CACHE: dict[int, tuple[Mapping[str, str], tuple[tuple[str, str], ...]]] = {}
_SEND_KEY = re.compile(r"sk_[0-9a-f]{8,64}")


@lru_cache(maxsize=16)
def _checked_base(url: str) -> str:
    """The public base URL without a trailing slash, checked once (it goes into headers)."""
    return check_safe(url.rstrip("/"), "public_base_url")


@lru_cache(maxsize=4096)
def _phrases(codes: tuple[str, ...], reason_texts: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    shown = [c for c in codes if not str(c).lower().startswith(STAFF_ONLY_REASONS)]
    return tuple(check_safe(p, "reason") for p in reason_phrases(shown, dict(reason_texts)))


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


def render_email(
    r: Recipient,
    playbook: Playbook,
    settings: Settings,
    reason_texts: Mapping[str, str],
    template_dir: Path | str | None = None,
) -> RenderedEmail:
    """Render one email the way it is sent (same functions as delivery), without sending. Used by ``preview``."""
    p = personalize(r, playbook, settings, reason_texts, template_dir)
    if playbook.template:
        content = render_shared_content(playbook, settings, template_dir)
        subs = p.get("substitutions") or {}
        if "dynamic_template_data" in p:  # dynamic template: preview with the repo's Jinja twin of it
            d = p["dynamic_template_data"]
            html_r, text_r = _reasons_blocks(tuple(d["reasons"]), str(template_dir or DEFAULT_TEMPLATE_DIR))
            subs = {
                TAGS["first_name_html"]: str(escape(d["first_name"])),
                TAGS["first_name_text"]: d["first_name"],
                TAGS["greeting_html"]: str(escape(d["greeting"])),
                TAGS["greeting_text"]: d["greeting"],
                TAGS["reasons_html"]: html_r,
                TAGS["reasons_text"]: text_r,
                TAGS["token"]: sign_token(r.send_key, settings.signing_secret.get_secret_value()),
            }
        text, html = apply_substitutions(content.text, subs), apply_substitutions(content.html, subs)
    else:
        text = html = ""
    subject = p.get("subject") or p.get("dynamic_template_data", {}).get("subject", "")
    return RenderedEmail(p["to"], subject, text, html, p["headers"], p["custom_args"], [playbook.name], p)


def handlebars_problems(source: str) -> list[str]:
    """Unsafe constructs in a SendGrid dynamic (Handlebars) template: triple braces or ``{{& x}}`` output raw."""
    return [
        f"line {source.count(chr(10), 0, m.start()) + 1}: raw output {m.group(0)!r}"
        for m in _HBS_TRIPLE.finditer(source)
    ]
