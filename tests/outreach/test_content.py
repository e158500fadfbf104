"""Customer-facing content: the model's words never reach a customer, each email says what its facts say."""

from __future__ import annotations

import dataclasses
import email
import re
from datetime import date
from email import policy
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from proactive_ml.identity import send_key
from proactive_ml.outreach.content import language_of, languages
from proactive_ml.outreach.facts import Facts, load_facts
from proactive_ml.outreach.playbooks import BLOCKS, load_playbooks
from proactive_ml.outreach.templates import DEFAULT_TEMPLATE_DIR, Recipient, UnsafeContent, render_email
from proactive_ml.outreach.vocabulary import FEATURES_YAML, check_outbox, content_problems
from proactive_ml.settings import Settings
from proactive_ml.sim.content_world import content_world
from proactive_ml.sim.sink.outbox import write_message_files
from proactive_ml.sim.small_company import at, end_date, load_raw_tables
from proactive_ml.warehouse import Warehouse

CONFIG = load_playbooks()
EMAIL_PLAYBOOKS = [p for p in CONFIG.playbooks if p.action == "email"]
AS_OF = at(end_date(120))
S = Settings(_env_file=None)  # type: ignore[call-arg]
FACTS = Facts(
    ticket_subject="Export fails on large files",
    ticket_category="bug",
    ticket_age_days=4,
    ticket_assignee="Priya Nair",
    next_feature="alert_config",
    renewal_date=date(2027, 1, 15),
    top_features=("dashboard_view", "search"),
    owner="Anna Schmidt",
    locale="en-US",
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tables = content_world(n_customers=60)
    url = f"duckdb:///{tmp_path_factory.mktemp('cw')}/w.duckdb"
    with Warehouse.connect(url) as wh:
        load_raw_tables(wh, tables)
        facts = load_facts(wh, tables["customers"]["customer_id"].tolist(), AS_OF)
    return {"customers": tables["customers"], "facts": facts, "url": url}


def rec(
    facts: Facts | None = FACTS, name: str | None = "Ada Lovelace", variant: str | None = None
) -> Recipient:
    return Recipient("sk_0123456789abcdef0123456789abcdef", "ada@example.org", name, facts, variant)


def test_every_playbook_for_a_world_speaks_the_customers_words(world: dict[str, Any]) -> None:
    n, shown = 0, dict.fromkeys(BLOCKS, 0)
    for pb in EMAIL_PLAYBOOKS:
        for r in world["customers"].itertuples(index=False):
            for v in pb.variants:
                name = None if pd.isna(r.name) else r.name
                sk = send_key(r.customer_id, pb.name, AS_OF.date())
                try:
                    e = render_email(
                        Recipient(sk, r.email.strip(), name, world["facts"][r.customer_id], v.name), pb, S
                    )
                except UnsafeContent:
                    assert name is not None
                    continue
                n += 1
                assert content_problems(e.subject, e.text, e.html) == [], (pb.name, r.customer_id)
                shown["open_ticket"] += "Your request" in e.text or "Ihre Anfrage" in e.text
                shown["next_step"] += "next step" in e.text or "nächster Schritt" in e.text
                shown["renewal"] += "renews on" in e.text or "verlängert sich" in e.text
                shown["usage_recap"] += "mostly used" in e.text or "vor allem" in e.text
                shown["help_centre"] += S.help_centre_url in e.text
    assert n > 400
    assert all(v > 5 for v in shown.values()), shown  # every block is exercised, and left out elsewhere


def _reason_examples() -> list[str]:
    values = {"value": 3, "pct_down": 40, "abs_value": 5, "nps_when": "2 weeks ago", "s": "s"}
    out = []
    for f in yaml.safe_load(Path(FEATURES_YAML).read_text())["features"]:
        r = f.get("reason")
        if r:
            v = {**values, "value": "starter"} if "{value}" in r else values
            out.append(r.format(**v))
            if "{s}" in r:  # and the singular: "1 unresolved ticket"
                out.append(r.format(**{**v, "value": 1, "s": ""}))
    return out


@pytest.mark.parametrize("phrase", _reason_examples())
def test_the_check_finds_every_model_reason_phrase(phrase: str) -> None:
    text = f"Hello,\n\nWe are writing because: {phrase}.\n\n--\nfooter"
    assert content_problems("Hi", text) != []


def test_the_check_finds_scores_empty_lists_and_placeholder_greetings() -> None:
    assert content_problems("x", "Hi Customer,\n\nThanks.\n") != []
    assert content_problems("x", "Hi ,\n\nThanks.\n") != []
    assert content_problems("x", "Hello,\n\nYour health is 0.43.\n") != []
    assert content_problems("x", "Hello,\n\nWhy we are writing:\n\nThanks\n") != []
    assert content_problems("x", "Hello,\n\nOk.\n", "<p>Why</p><ul></ul>") != []
    assert content_problems("x", "Hello,\n\nOk.\n", "<p>Hi %greeting_html%</p>") != []
    ok = "Hallo Ada,\n\nIhre Anfrage „Rechnung 2026-114“ ist seit 4 Tagen offen. Am 15. Januar 2027.\n\n--\n1: x\n"
    assert content_problems("Ada, hallo", ok) == []
    # singular durations in every language are durations, not metrics (the demo's "seit 1 Tag offen")
    for one in ("seit 1 Tag offen", "open for 1 day", "in 1 Woche", "depuis 1 jour"):
        assert content_problems("x", f"Hallo Ada,\n\nIhre Anfrage ist {one}.\n") == [], one
    assert content_problems("x", "Hallo Ada,\n\nIhr Wert ist 1.\n") != []


def test_unresolved_ticket_names_the_request_and_who_is_on_it() -> None:
    e = render_email(rec(), CONFIG.get("unresolved_ticket"), S)
    for body in (e.text, e.html):
        assert "Export fails on large files" in body
        assert "a problem in the product" in body
        assert "4 days" in body
        assert "Priya Nair from our support team" in body
        assert "renews" not in body
        assert "next step" not in body
    e = render_email(
        rec(dataclasses.replace(FACTS, ticket_assignee=None, ticket_subject=None)),
        CONFIG.get("unresolved_ticket"),
        S,
    )
    assert "Your request (a problem in the product) has been open for 4 days." in e.text
    assert "A senior member of our support team" in e.text


def test_onboarding_offers_the_step_not_taken_in_each_variant() -> None:
    pb = CONFIG.get("onboarding_stall")
    subjects = set()
    for v in pb.variants:
        e = render_email(rec(variant=v.name), pb, S)
        assert "try alerts" in e.text
        assert "try alerts" in e.html
        assert e.variant == v.name
        subjects.add(e.subject)
    assert len(subjects) == len(pb.variants) >= 2
    assert (
        "try"
        not in render_email(rec(dataclasses.replace(FACTS, next_feature=None)), pb, S).text.split("--")[0]
    )


def test_renewal_recaps_value_in_usage_terms_and_dates_per_locale() -> None:
    pb = CONFIG.get("renewal_risk")
    e = render_email(rec(), pb, S)
    assert "renews on January 15, 2027" in e.text
    assert "mostly used dashboards and search" in e.text
    de = render_email(rec(dataclasses.replace(FACTS, locale="de-DE")), pb, S)
    assert de.lang == "de"
    assert "15. Januar 2027" in de.text
    assert "Dashboards und die Suche" in de.text
    assert de.text.startswith("Hallo Ada,")
    assert "Verlängerung" in de.subject
    general = render_email(rec(), CONFIG.get("general_risk"), S)  # same template, fewer blocks
    assert "renews" not in general.text
    assert "mostly used" in general.text


def test_detractor_and_predicted_need_say_no_survey_value() -> None:
    e = render_email(rec(), CONFIG.get("detractor_survey"), S)
    assert "Export fails" not in e.text  # its only block is the help centre
    assert S.help_centre_url in e.text
    p = render_email(rec(), CONFIG.get("predicted_need"), S)
    assert "Export fails on large files" in p.text
    assert "try alerts" in p.text


def test_every_playbook_and_variant_has_every_language() -> None:
    langs = languages(str(DEFAULT_TEMPLATE_DIR))
    assert "en" in langs
    assert "de" in langs
    for pb in EMAIL_PLAYBOOKS:
        for v in pb.variants:
            for lang in langs:
                for fmt in ("html", "txt"):
                    name = f"{v.template}.{fmt}.j2" if lang == "en" else f"{lang}/{v.template}.{fmt}.j2"
                    assert (DEFAULT_TEMPLATE_DIR / name).exists(), name
                assert dict(v.subjects).get(lang), (pb.name, v.name, lang)
    assert [language_of(x, str(DEFAULT_TEMPLATE_DIR)) for x in ("de_AT", "DE", "xx", None, "")] == [
        "de",
        "de",
        "en",
        "en",
        "en",
    ]


def test_brand_and_sender_person() -> None:
    s = S.model_copy(update={"company_name": "Acme", "logo_url": "https://cdn.acme.test/logo.png"})
    e = render_email(rec(), CONFIG.get("renewal_risk"), s)
    assert "Anna Schmidt\nAcme" in e.text
    assert "Anna Schmidt<br>Acme" in e.html
    assert '<img src="https://cdn.acme.test/logo.png" alt="Acme"' in e.html
    assert "customer of Acme" in e.html
    e = render_email(rec(dataclasses.replace(FACTS, owner=None)), CONFIG.get("renewal_risk"), s)
    assert f"Warm regards,\n{s.sender_name}" in e.text
    assert "<img" not in render_email(rec(), CONFIG.get("renewal_risk"), S).html  # no logo by default


def test_outbox_check_and_quoted_display_names(tmp_path: Path) -> None:
    from proactive_ml.outreach.dispatch import build_body
    from proactive_ml.outreach.templates import render_shared_content

    pb = CONFIG.get("unresolved_ticket")
    e = render_email(rec(name="Mary <mary@evil.org>"), pb, S)
    body = build_body(pb, [e.personalization], S, render_shared_content(pb, S))
    assert body["reply_to"] == {"email": S.reply_to_email}
    write_message_files(tmp_path, "m1", body, "Tue, 01 Dec 2026 10:00:00 +0000")
    msg: Any = email.message_from_bytes((tmp_path / "m1.0000.eml").read_bytes(), policy=policy.default)
    assert [a.addr_spec for a in msg["To"].addresses] == ["ada@example.org"]
    assert msg["To"].addresses[0].display_name == "Mary <mary@evil.org>"
    assert [a.addr_spec for a in msg["Reply-To"].addresses] == [S.reply_to_email]
    assert check_outbox(tmp_path) == {"emails": 1, "with_problems": 0, "examples": []}
    bad = dict(
        body, content=[{"type": "text/plain", "value": "Hi Customer,\n\nuses only 2 product features\n"}]
    )
    write_message_files(tmp_path, "m2", bad, "Tue, 01 Dec 2026 10:00:00 +0000")
    assert check_outbox(tmp_path)["with_problems"] == 1


def test_non_ascii_display_name_is_encoded(tmp_path: Path) -> None:
    from proactive_ml.outreach.dispatch import build_body
    from proactive_ml.outreach.templates import render_shared_content

    pb = CONFIG.get("detractor_survey")
    e = render_email(rec(name='Zoë O\'Brien, "Q"'), pb, S)
    write_message_files(
        tmp_path, "m", build_body(pb, [e.personalization], S, render_shared_content(pb, S)), "x"
    )
    raw = (tmp_path / "m.0000.eml").read_text()
    to_line = next(line for line in raw.splitlines() if line.startswith("To:"))
    assert to_line.isascii()
    msg: Any = email.message_from_string(raw, policy=policy.default)
    assert msg["To"].addresses[0].addr_spec == "ada@example.org"
    assert msg["To"].addresses[0].display_name == 'Zoë O\'Brien "Q"'


def test_gallery_links_every_playbook_variant_and_language(world: dict[str, Any], tmp_path: Path) -> None:
    from proactive_ml.outreach.gallery import write_gallery

    with Warehouse.connect(world["url"]) as wh:
        index = write_gallery(wh, S, CONFIG, tmp_path, as_of=AS_OF, per_playbook=2)
    page = index.read_text()
    links = re.findall(r"href='([^']+)'", page)
    expected = {
        (pb.name, v.name, lang) for pb in EMAIL_PLAYBOOKS for v in pb.variants for lang in ("en", "de")
    }
    found = {(lk.split("/")[0], *lk.split("/")[1].split("-")[:2]) for lk in links}
    assert found == expected
    assert len(links) == 2 * len(expected)
    for lk in links:
        shown = (tmp_path / lk).read_text()
        assert "<iframe src=" in shown
        frame = re.search(r"<iframe src='([^']+)'", shown)
        assert frame is not None
        assert (tmp_path / lk).parent.joinpath(frame.group(1)).exists()
    assert "http" not in re.sub(r"https?://(127\.0\.0\.1|help\.example\.com)", "", page)  # offline
    ticket = next(lk for lk in links if lk.startswith("unresolved_ticket/a-en-"))
    assert "Your request" in (tmp_path / ticket).read_text()  # a customer with an open request was chosen


def test_a_shops_buyers_get_no_renewal_and_no_feature_recap() -> None:
    """A purchase log (no plan, no revenue, one kind of event) renews nothing and has no product features.

    The retail example used to be told "Your subscription renews on ..." (a signup anniversary) and "Lately your
    team has mostly used purchase".
    """
    from datetime import datetime

    from proactive_ml.outreach.facts import build_facts
    from proactive_ml.outreach.signals import build_signals

    as_of = datetime(2026, 7, 1, 14)
    people = pd.DataFrame(
        {
            "customer_id": ["shop1", "saas1"],
            "signup_date": pd.to_datetime(["2024-07-20", "2024-07-20"]),
            "cancelled_at": pd.NaT,
            "plan": [None, "pro"],
            "monthly_revenue": [None, None],
        }
    )
    usage = pd.DataFrame({"customer_id": ["shop1", "saas1"], "feature": "purchase", "n_recent": [5, 5]})
    no_tickets = pd.DataFrame(columns=["customer_id", "opened_at", "category"])
    facts = build_facts(people, no_tickets, usage, ["purchase"], as_of)
    assert facts["shop1"].renewal_date is None  # no plan, no revenue: nothing renews
    assert facts["saas1"].renewal_date == date(2026, 7, 20)  # a plan: its yearly renewal
    assert facts["shop1"].top_features == ()
    assert facts["shop1"].next_feature is None
    two = pd.concat([usage, usage.assign(feature="search", n_recent=1)])
    assert build_facts(people, no_tickets, two, ["purchase", "search"], as_of)["saas1"].top_features == (
        "purchase",
        "search",
    )
    empty = pd.DataFrame(columns=["customer_id", "usage_14d", "usage_prev_14d"])
    signals = build_signals(people, empty, no_tickets.assign(priority=[]), pd.DataFrame(), as_of)
    assert pd.isna(signals.loc["shop1", "days_to_renewal"])
    assert signals.loc["saas1", "days_to_renewal"] == 19
