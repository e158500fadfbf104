"""A company's own email templates (PROACTIVE_TEMPLATES_DIR): file by file over the shipped ones, words merged."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time
from pathlib import Path

import pytest

from proactive_ml.errors import UserError
from proactive_ml.outreach.content import feature_words, greeting, languages
from proactive_ml.outreach.facts import Facts
from proactive_ml.outreach.playbooks import PlaybookConfig, load_playbooks
from proactive_ml.outreach.run import run_outreach
from proactive_ml.outreach.template_folder import (
    DEFAULT_TEMPLATE_DIR,
    check_templates,
    template_folder,
    template_problems,
)
from proactive_ml.outreach.templates import Recipient, render_email
from proactive_ml.outreach.vocabulary import content_problems
from proactive_ml.settings import PROJECT_ROOT, Settings
from proactive_ml.sim.outreach_samples import ZONES, make_customers, seed_warehouse
from proactive_ml.warehouse import Warehouse

CONFIG = load_playbooks()
EMAIL_PLAYBOOKS = [p for p in CONFIG.playbooks if p.action == "email"]
CUTOFF = date(2026, 11, 23)
RETAIL = PROJECT_ROOT / "examples" / "retail" / "templates"
FACTS = Facts(
    ticket_subject="Parcel arrived damaged",
    ticket_category="delivery",
    ticket_age_days=4,
    next_feature="search",
    top_features=("dashboard_view", "search"),
    locale="en-GB",
)
SOFTWARE_WORDS = ("your team", "the product", "subscription", "new tool", "Teams who use it")


def settings(folder: Path | str = "") -> Settings:
    return Settings(templates_dir=str(folder), _env_file=None)  # type: ignore[call-arg]


def rec(facts: Facts = FACTS, variant: str | None = None) -> Recipient:
    return Recipient("sk_0123456789abcdef0123456789abcdef", "ada@example.org", "Ada Lovelace", facts, variant)


def test_no_folder_set_means_the_shipped_templates() -> None:
    assert template_folder(settings()) == str(DEFAULT_TEMPLATE_DIR)
    assert template_problems(CONFIG, str(DEFAULT_TEMPLATE_DIR)) == []


def test_a_file_in_the_company_folder_replaces_only_that_template(tmp_path: Path) -> None:
    (tmp_path / "onboarding_stall.txt.j2").write_text(
        '{% extends "base.txt.j2" %}{% block body %}Thank you for your first order.{% endblock %}',
        encoding="utf-8",
    )
    (tmp_path / "onboarding_stall.html.j2").write_text(
        '{% extends "base.html.j2" %}{% block body %}<p>Thank you for your first order.</p>{% endblock %}',
        encoding="utf-8",
    )
    ours = settings(tmp_path)
    e = render_email(rec(variant="a"), CONFIG.get("onboarding_stall"), ours)
    for body in (e.text, e.html):
        assert "Thank you for your first order." in body
        assert "Welcome aboard" not in body
        assert "Unsubscribe" in body  # the shipped base template still frames it
    other = render_email(rec(), CONFIG.get("detractor_survey"), ours)
    assert other.text == render_email(rec(), CONFIG.get("detractor_survey"), settings()).text


def test_the_company_words_replace_only_the_words_they_name(tmp_path: Path) -> None:
    (tmp_path / "words.yaml").write_text(
        "en:\n  features:\n    search: 'finding things'\nfr:\n  greeting: 'Bonjour {name},'\n",
        encoding="utf-8",
    )
    folder = str(tmp_path)
    assert feature_words("search", "en", folder) == "finding things"
    assert feature_words("api_call", "en", folder) == "the API"  # the shipped word stays
    assert greeting("Ada", "en", folder) == "Hi Ada,"
    assert languages(folder) == (
        "en",
        "de",
    )  # French words alone, without a folder of templates, are no language


def unsendable() -> PlaybookConfig:
    """The shipped playbooks, the detractor one naming a template that exists nowhere."""
    pb = CONFIG.get("detractor_survey")
    variants = tuple(dataclasses.replace(v, template="thank_you_note") for v in pb.variants)
    pb = dataclasses.replace(pb, template="thank_you_note", variants=variants)
    others = tuple(p if p.name != pb.name else pb for p in CONFIG.playbooks)
    return PlaybookConfig(playbooks=others, selection=CONFIG.selection)


def test_a_missing_folder_or_template_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="PROACTIVE_TEMPLATES_DIR"):
        template_folder(settings(tmp_path / "nowhere"))
    config = unsendable()
    assert template_problems(config, str(tmp_path)) == [
        "playbook detractor_survey: thank_you_note.html.j2 not found",
        "playbook detractor_survey: thank_you_note.txt.j2 not found",
    ]
    with pytest.raises(UserError, match="thank_you_note.html.j2 not found"):
        check_templates(config, str(tmp_path))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "_blocks.txt.j2").write_text("{% if block == 'x' %}\nunclosed\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"_blocks.txt.j2 line 1: .*'endif'"):
        check_templates(CONFIG, str(broken))
    for n, (text, said) in enumerate(
        [
            ("en:\n  greeting: 'Hi {name},\n", r"words.yaml, line 3: not valid YAML"),
            ("en: Hi\n", "en is not one"),
        ]
    ):
        folder = tmp_path / f"words{n}"
        folder.mkdir()
        (folder / "words.yaml").write_text(text, encoding="utf-8")
        with pytest.raises(UserError, match=said):
            check_templates(CONFIG, str(folder))


def test_outreach_refuses_an_unsendable_playbook_before_deciding_anything(settings: Settings) -> None:
    with Warehouse.connect(settings.resolved_warehouse_url) as wh:
        seed_warehouse(
            wh, make_customers(300, seed=5, consent_share=1.0, zones=ZONES), CUTOFF, seed=5, low=0.2
        )
        t = datetime.combine(CUTOFF, time(14))
        with pytest.raises(UserError, match="thank_you_note"):
            run_outreach(wh, settings, t, config=unsendable(), deliver=False)
        assert wh.scalar("SELECT count(*) FROM decisions") == 0
        run_outreach(wh, settings, t, config=CONFIG, deliver=False)
        assert (
            wh.scalar("SELECT count(*) FROM decisions") > 0
        )  # the same day decides once its templates exist


def test_the_retail_example_speaks_as_a_shop_in_every_email() -> None:
    shop = settings(RETAIL)
    assert template_problems(CONFIG, template_folder(shop)) == []
    for pb in EMAIL_PLAYBOOKS:
        for v in pb.variants:
            facts = dataclasses.replace(FACTS, renewal_date=None)  # a shop's customers renew nothing
            e = render_email(rec(facts, v.name), pb, shop)
            assert content_problems(e.subject, e.text, e.html) == [], (pb.name, v.name)
            for body in (e.text, e.html):
                assert not [w for w in SOFTWARE_WORDS if w in body], (pb.name, v.name, body)
    subjects = {
        v.name: render_email(rec(variant=v.name), CONFIG.get("onboarding_stall"), shop).subject
        for v in CONFIG.get("onboarding_stall").variants
    }
    assert subjects == {
        "a": "Ada, how was your first order?",
        "b": "Ada, looking for something in particular?",
    }
    assert (
        render_email(rec(), CONFIG.get("general_risk"), shop).subject
        == "Ada, was everything right with your order?"
    )
    german = render_email(rec(dataclasses.replace(FACTS, locale="de-DE")), CONFIG.get("general_risk"), shop)
    assert german.subject == "Ada, funktioniert alles für Sie?"  # the shop wrote English subjects only
    e = render_email(rec(), CONFIG.get("unresolved_ticket"), shop)
    assert "(a delivery question)" in e.text  # the shop's own word for a ticket category
    assert "Delivery times, returns and order questions" in e.text
