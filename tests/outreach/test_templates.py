"""Templates: rendering, RFC 8058 headers, sandbox, strict undefined, fuzzing of every customer-controlled field."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from jinja2.exceptions import SecurityError, UndefinedError
from markupsafe import escape

from proactive_ml.identity import verify_token
from proactive_ml.outreach.facts import Facts
from proactive_ml.outreach.playbooks import Variant, load_playbooks
from proactive_ml.outreach.templates import (
    Recipient,
    UnsafeContent,
    check_safe,
    first_name_of,
    greeting_of,
    handlebars_problems,
    html_env,
    personalize,
    render_email,
)
from proactive_ml.settings import PROJECT_ROOT, Settings

CONFIG = load_playbooks()
PB = CONFIG.get("renewal_risk")
EMAIL_PLAYBOOKS = [p for p in CONFIG.playbooks if p.action == "email"]

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{ ''.__class__.__mro__ }}",
    "{{ 7*7 }}",
    "{% for x in range(3) %}X{% endfor %}",
    "{{{first_name}}}",
    "{{& first_name}}",
    "javascript:alert(1)",
    "' onmouseover='alert(1)",
    "&lt;b&gt;",
    "%token%",
    "%first_name_html%",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "${7*7}",
    "<![CDATA[x]]>",
    "Zoë 😀 O'Brien",
]
NEWLINES = [
    "a\rb",
    "a\nb",
    "a\r\nBcc: x@evil.org",
    "a\x00b",
    "a%0d%0aBcc:x",
    "a%0Ab",
    "a\\r\\nb",
    "a&#13;&#10;b",
    "a&#x0a;b",
    "a\u2028b",
    "=?utf-8?q?a=0D=0AX?=",
    "a\x85b",
]


@pytest.fixture
def s(settings: Settings) -> Settings:
    return settings


FACTS = Facts(
    ticket_subject="Export fails",
    ticket_category="bug",
    ticket_age_days=4,
    ticket_assignee="Jonas Weber",
    next_feature="alert_config",
    renewal_date=date(2027, 1, 15),
    top_features=("dashboard_view", "search"),
)


def rec(name: str = "Ada Lovelace", facts: Facts | None = FACTS) -> Recipient:
    return Recipient("sk_0123456789abcdef0123456789abcdef", "ada@example.org", name, facts)


def test_rendered_email_has_links_headers_address_and_its_blocks(s: Settings) -> None:
    for pb in EMAIL_PLAYBOOKS:
        e = render_email(rec(), pb, s)
        token = e.headers["List-Unsubscribe"][1:-1].rsplit("/", 1)[1]
        assert verify_token(token, s.signing_secret.get_secret_value()) == rec().send_key
        assert e.headers == {
            "List-Unsubscribe": f"<{s.public_base_url}/u/{token}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        assert e.custom_args == {"send_key": rec().send_key}
        assert e.categories == [pb.name]
        for body in (e.html, e.text):
            assert "Hi Ada," in body
            assert s.postal_address in body
            assert f"{s.public_base_url}/u/{token}" in body
            assert all(f"{s.public_base_url}/r/{token}/{i}" in body for i in range(1, 6))
            assert s.help_centre_url in body
            assert "%" not in body.replace("%20", "")  # every substitution tag was replaced
        assert ">Unsubscribe</a>" in e.html
        assert "Was this helpful?" in e.html
        assert e.subject.startswith("Ada, ")
        assert e.to == [{"email": "ada@example.org", "name": "Ada Lovelace"}]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_fuzz_payloads_in_name_and_facts_are_escaped_or_refused(s: Settings, payload: str) -> None:
    evil = Facts(
        ticket_subject=payload, ticket_assignee=payload, owner=f"{payload} X", ticket_category=payload
    )
    for r in (rec(name=f"{payload} Smith"), rec(name=payload), rec(facts=evil)):
        try:
            e = render_email(r, PB, s)
        except UnsafeContent:
            continue
        assert "<script" not in e.html
        assert "<img" not in e.html
        assert "onerror=" not in e.html.replace("onerror=alert", "")
        assert "49" not in e.html
        assert "49" not in e.subject
        assert "__mro__" not in e.html or "{{ &#39;&#39;.__class__.__mro__ }}" in e.html
        assert "<class" not in e.html
        assert "uid=" not in e.html
        assert f"<p>{escape(greeting_of(first_name_of(r.name)))}</p>" in e.html
        assert e.text.startswith(greeting_of(first_name_of(r.name)) + "\n")


@pytest.mark.parametrize("bad", NEWLINES)
def test_newlines_and_encoded_newlines_are_refused_in_every_field(s: Settings, bad: str) -> None:
    with pytest.raises(UnsafeContent):
        personalize(rec(name=bad), PB, s)
    with pytest.raises(UnsafeContent):
        personalize(dataclasses.replace(rec(), email=f"{bad}@example.org"), PB, s)
    bad_subject = (Variant("a", 1.0, (("en", "Hello " + bad),), PB.template),)
    with pytest.raises(UnsafeContent):
        personalize(rec(), dataclasses.replace(PB, variants=bad_subject), s)
    with pytest.raises(UnsafeContent):
        personalize(rec(), PB, s.model_copy(update={"public_base_url": "https://x.org/" + bad}))
    with pytest.raises(UnsafeContent):
        check_safe(bad, "header")


@hsettings(max_examples=200, deadline=None)
@given(name=st.text(max_size=40), fact=st.text(max_size=40))
def test_hypothesis_any_text_is_escaped_or_refused(name: str, fact: str) -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    pb = CONFIG.get("unresolved_ticket")
    try:
        e = render_email(
            rec(name=name, facts=Facts(ticket_subject=fact, ticket_assignee=fact, owner=fact)), pb, s
        )
    except UnsafeContent:
        return
    greeting = e.html.split("<p>", 1)[1].split("</p>", 1)[0]
    assert greeting == "Hello," or (greeting.startswith("Hi ") and "<" not in greeting)
    assert "\n" not in e.subject
    assert "\r" not in e.subject
    for tag in ("<script", "<img", "<iframe"):
        assert tag not in e.html.lower()


def test_sandbox_and_strict_undefined(tmp_path: Path) -> None:
    (tmp_path / "evil.html.j2").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    (tmp_path / "undef.html.j2").write_text("Hello {{ nobody }}")
    env = html_env(str(tmp_path))
    with pytest.raises(SecurityError):
        env.get_template("evil.html.j2").render()
    with pytest.raises(UndefinedError):
        env.get_template("undef.html.j2").render()
    (tmp_path / "auto.html.j2").write_text("{{ v }}")
    assert env.get_template("auto.html.j2").render(v="<b>") == "&lt;b&gt;"


def test_display_name_cannot_break_sendgrid_rules(s: Settings) -> None:
    p = personalize(rec(name="Lovelace, Ada; Countess"), PB, s)
    assert p["to"][0]["name"] == "Lovelace Ada Countess"
    assert set(p) == {"to", "subject", "headers", "custom_args", "substitutions"}
    assert p["custom_args"] == {"send_key": rec().send_key}
    with pytest.raises(UnsafeContent):
        personalize(dataclasses.replace(rec(), email="a@b.org, c@d.org"), PB, s)


def test_dynamic_template_alternative_and_handlebars_lint(s: Settings) -> None:
    pb = dataclasses.replace(PB, sendgrid_template_id="d-0123456789abcdef")
    p = personalize(rec(name="<b>Ada</b> X"), pb, s)
    assert "substitutions" not in p
    assert "subject" not in p
    assert p["dynamic_template_data"]["first_name"] == "b>Ada</b"  # data, escaped by Handlebars {{ }}
    assert p["dynamic_template_data"]["unsubscribe_url"].startswith(f"{s.public_base_url}/u/sk_")
    e = render_email(rec(name="<b>Ada</b> X"), pb, s)  # local preview of the Jinja twin
    assert "Hi b&gt;Ada&lt;/b," in e.html
    for f in (PROJECT_ROOT / "templates" / "sendgrid").glob("*.hbs"):
        assert handlebars_problems(f.read_text()) == [], f
    assert handlebars_problems("<p>{{{first_name}}}</p>\n{{& x}}") == [
        "line 1: raw output '{{{'",
        "line 2: raw output '{{&'",
    ]


@pytest.mark.parametrize(
    "name", [None, "", "   ", "Customer", "customer 123", "N/A", "-", "12345", "a@b.org"]
)
def test_missing_or_unusable_name_gets_a_neutral_greeting(s: Settings, name: str | None) -> None:
    for pb in EMAIL_PLAYBOOKS:
        e = render_email(rec(name=name), pb, s)  # type: ignore[arg-type]
        assert e.text.startswith("Hello,\n")
        assert "<p>Hello,</p>" in e.html
        for body in (e.html, e.text, e.subject):
            assert "Customer," not in body
            assert "Hi " not in body
            assert "there" not in body.split("\n", 1)[0]
        assert e.subject[:1].isupper()
        assert not e.subject.startswith((",", " "))


def test_a_real_name_is_still_greeted() -> None:
    assert greeting_of(first_name_of("Ada Lovelace")) == "Hi Ada,"
    assert greeting_of(first_name_of("Kim1 Doe")) == "Hi Kim1,"
    assert greeting_of(first_name_of("customer")) == "Hello,"


def test_missing_facts_leave_their_blocks_out(s: Settings) -> None:
    for facts in (None, Facts()):
        for pb in EMAIL_PLAYBOOKS:
            e = render_email(rec(facts=facts), pb, s)
            for body in (e.html, e.text):
                assert "Your request" not in body
                assert "next step" not in body
                assert "renews on" not in body
                assert "mostly used" not in body
                assert "<p></p>" not in body
                assert "%" not in body.replace("%20", "")
            assert "\n\n\n\n" not in e.text
