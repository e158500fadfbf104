"""SendGrid v3 Mail Send contract of the sink: request validation (SendGrid's rules and limits) and the audit.

In: a decoded ``/v3/mail/send`` request body. Out: SendGrid-shaped errors (``{"message", "field", "help"}``, an
empty list when valid) and the audit counts (personal data in custom_args or categories, missing RFC 8058
unsubscribe headers).
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_BODY_BYTES = 30 * 1024 * 1024
MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
MAX_CUSTOM_ARGS_BYTES = 10_000
MAX_SUBSTITUTIONS_BYTES = 10_000
RESERVED_HEADERS = {
    "x-sg-id",
    "x-sg-eid",
    "received",
    "dkim-signature",
    "content-type",
    "content-transfer-encoding",
    "to",
    "from",
    "subject",
    "reply-to",
    "cc",
    "bcc",
}
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
_PHONE = re.compile(r"(?<!\w)\+?\d[\d ().-]{7,}\d(?!\w)")

Error = dict[str, Any]


def error(message: str, field_name: str | None = None, help_: str | None = None) -> Error:
    """One SendGrid-shaped error."""
    return {"message": message, "field": field_name, "help": help_}


def addresses(p: dict[str, Any]) -> list[dict[str, Any]]:
    """The to, cc and bcc address objects of a personalization."""
    out: list[dict[str, Any]] = []
    for k in ("to", "cc", "bcc"):
        v = p.get(k) or []
        if isinstance(v, list):
            out.extend(a for a in v if isinstance(a, dict))
    return out


def _json_size(d: dict[str, Any]) -> int:
    """Bytes of ``d`` as compact JSON (fast path for string values)."""
    try:
        return 2 + sum(len(k.encode()) + len(v.encode()) + 6 for k, v in d.items())
    except AttributeError:
        return len(json.dumps(d).encode())


# ------------------------------------------------------------------ validation
def _check_from(body: dict[str, Any]) -> list[Error]:
    frm = body.get("from")
    if isinstance(frm, dict) and _EMAIL.match(str(frm.get("email", ""))):
        return []
    return [
        error(
            "The from object must be provided for every email send. It is an object that requires "
            "the email parameter, but may also contain a name parameter.",
            "from.email",
        )
    ]


def _check_addresses(i: int, p: dict[str, Any], seen: set[str]) -> list[Error]:
    errors = []
    for a in addresses(p):
        email = str(a.get("email", ""))
        if not _EMAIL.match(email):
            errors.append(error("Does not contain a valid address.", f"personalizations.{i}.to.email"))
        low = email.lower()
        if low in seen:
            errors.append(
                error(
                    "Each email address in the personalization block should be unique between to, "
                    "cc, and bcc. We found the first duplicate instance of [" + email + "] in the "
                    "personalizations.0.to field.",
                    f"personalizations.{i}.to",
                )
            )
        seen.add(low)
        name = a.get("name")
        if name is not None and (not isinstance(name, str) or ";" in name or "," in name):
            errors.append(
                error("The name must not contain ; or , characters.", f"personalizations.{i}.to.name")
            )
    return errors


def _check_args_and_headers(i: int, p: dict[str, Any], msg_args: dict[str, Any]) -> list[Error]:
    errors = []
    args = {**msg_args, **(p.get("custom_args") or {})}
    if _json_size(args) >= MAX_CUSTOM_ARGS_BYTES:
        errors.append(
            error(
                "The custom_args total size must be less than 10,000 bytes.",
                f"personalizations.{i}.custom_args",
            )
        )
    if any(not isinstance(v, str) for v in args.values()):
        errors.append(error("Custom args values must be strings.", f"personalizations.{i}.custom_args"))
    if _json_size(p.get("substitutions") or {}) >= MAX_SUBSTITUTIONS_BYTES:
        errors.append(
            error(
                "The substitutions total size must be less than 10,000 bytes.",
                f"personalizations.{i}.substitutions",
            )
        )
    for hk, hv in (p.get("headers") or {}).items():
        if str(hk).lower() in RESERVED_HEADERS:
            errors.append(error(f"The header {hk} is reserved.", f"personalizations.{i}.headers"))
        if not isinstance(hv, str) or any(c in hv for c in "\r\n\x00"):
            errors.append(
                error("Header values must be strings without line breaks.", f"personalizations.{i}.headers")
            )
    return errors


def _check_personalization(i: int, p: Any, body: dict[str, Any], seen: set[str]) -> list[Error]:
    if not isinstance(p, dict):
        return [error("Each personalization must be an object.", f"personalizations.{i}")]
    errors = []
    if not isinstance(p.get("to"), list) or not p["to"]:
        errors.append(
            error(
                "The to array is required for all personalization objects, and must have at least "
                "one email object with a valid email address.",
                f"personalizations.{i}.to",
            )
        )
    errors += _check_addresses(i, p, seen)
    if not body.get("template_id") and not (p.get("subject") or body.get("subject")):
        errors.append(
            error(
                "The subject is required. You can get around this requirement if you use a template "
                "with a subject defined or if every personalization has a subject defined.",
                "subject",
            )
        )
    return errors + _check_args_and_headers(i, p, body.get("custom_args") or {})


def _check_personalizations(body: dict[str, Any]) -> list[Error]:
    ps = body.get("personalizations")
    errors = []
    if not isinstance(ps, list) or not ps:
        errors.append(
            error(
                "The personalizations field is required and must have at least one personalization.",
                "personalizations",
            )
        )
        ps = []
    if len(ps) > MAX_PERSONALIZATIONS:
        errors.append(
            error(
                "The personalizations field must have no more than 1000 personalizations.", "personalizations"
            )
        )
    seen: set[str] = set()
    for i, p in enumerate(ps):
        errors += _check_personalization(i, p, body, seen)
    total = sum(len(addresses(p)) for p in ps if isinstance(p, dict))
    if total > MAX_RECIPIENTS:
        errors.append(error("The total number of recipients must be no more than 1000.", "personalizations"))
    return errors


def _check_content(body: dict[str, Any]) -> list[Error]:
    if body.get("template_id"):
        return []
    content = body.get("content")
    if not isinstance(content, list) or not content:
        return [
            error(
                "Unless a valid template_id is provided, the content parameter is required. There "
                "must be at least one defined content block.",
                "content",
            )
        ]
    errors = [
        error("The content value must be a string at least one character in length.", f"content.{j}.value")
        for j, c in enumerate(content)
        if not isinstance(c, dict)
        or not c.get("type")
        or not isinstance(c.get("value"), str)
        or not c["value"]
    ]
    types = [c.get("type") for c in content if isinstance(c, dict)]
    if "text/plain" in types and types[0] != "text/plain":
        errors.append(error("If present, text/plain content must be first.", "content.0.type"))
    return errors


def _check_categories_and_asm(body: dict[str, Any]) -> list[Error]:
    errors = []
    cats = body.get("categories") or []
    if (
        not isinstance(cats, list)
        or len(cats) > 10
        or any(not isinstance(c, str) or len(c) > 255 for c in cats)
    ):
        errors.append(error("Categories must be at most 10 strings of at most 255 characters.", "categories"))
    asm = body.get("asm")
    if asm is not None and (not isinstance(asm, dict) or not isinstance(asm.get("group_id"), int)):
        errors.append(error("The asm group_id must be an integer.", "asm.group_id"))
    return errors


def validate_mail_send(body: Any) -> list[Error]:
    """SendGrid v3 Mail Send rules (the subset that matters for us). Empty list = valid."""
    if not isinstance(body, dict):
        return [error("Bad Request", None, "the request body must be a JSON object")]
    return [
        *_check_from(body),
        *_check_personalizations(body),
        *_check_content(body),
        *_check_categories_and_asm(body),
    ]


# ------------------------------------------------------------------ audit
def _has_pii(values: list[str], emails: set[str], names: set[str]) -> int:
    count = 0
    for v in values:
        lv = v.lower()
        tokens = set(re.split(r"[\W_]+", lv))
        if "@" in lv or _PHONE.search(lv) or any(e and e in lv for e in emails) or tokens & names:
            count += 1
    return count


def _has_one_click_headers(headers: dict[str, Any]) -> bool:
    lu, lup = str(headers.get("list-unsubscribe", "")), str(headers.get("list-unsubscribe-post", ""))
    return lu.startswith("<") and lu.endswith(">") and "http" in lu and lup == "List-Unsubscribe=One-Click"


def audit_request(body: dict[str, Any]) -> tuple[int, int]:
    """(pii_violations, missing_unsubscribe_headers) in one valid request.

    PII: emails, names or phone numbers in custom_args or categories. Missing headers: personalizations without
    List-Unsubscribe + List-Unsubscribe-Post One-Click.
    """
    pii = 0
    missing = 0
    msg_args = body.get("custom_args") or {}
    msg_headers = {k.lower(): v for k, v in (body.get("headers") or {}).items()}
    cats = [str(c) for c in body.get("categories") or []]
    for p in body.get("personalizations") or []:
        addrs = addresses(p)
        names = {
            w
            for a in addrs
            for w in re.split(r"\W+", str(a.get("name") or "").lower())
            if len(w) > 2 and w.isalpha()
        }
        emails = {str(a.get("email") or "").lower() for a in addrs}
        values = [str(v) for v in {**msg_args, **(p.get("custom_args") or {})}.values()]
        values += list(map(str, msg_args.keys())) + cats
        pii += _has_pii(values, emails, names)
        if not _has_one_click_headers(
            {**msg_headers, **{k.lower(): v for k, v in (p.get("headers") or {}).items()}}
        ):
            missing += 1
    return pii, missing
