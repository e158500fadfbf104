"""Pages people read, opened in a real headless Chromium: the email gallery and the success report."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from proactive_ml.measurement.report import write_report
from proactive_ml.outreach.gallery import write_gallery
from proactive_ml.outreach.playbooks import load_playbooks
from proactive_ml.settings import Settings
from proactive_ml.sim.content_world import content_world
from proactive_ml.sim.fixtures import load_decision_tables, synthetic_decisions
from proactive_ml.sim.small_company import at, end_date, load_raw_tables
from proactive_ml.warehouse import Warehouse

CONFIG = load_playbooks()
AS_OF = at(end_date(120))


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gallery")
    with Warehouse.connect(f"duckdb:///{root / 'w.duckdb'}") as wh:
        load_raw_tables(wh, content_world(n_customers=40))
        return write_gallery(wh, Settings(_env_file=None), CONFIG, root / "out", as_of=AS_OF, per_playbook=1)  # type: ignore[call-arg]


def test_gallery_opens_in_a_browser_with_every_playbook_shown(page: Any, gallery: Path) -> None:
    page.goto(gallery.as_uri())
    text = page.inner_text("body")
    emails = [p.name for p in CONFIG.playbooks if p.action == "email"]
    assert emails
    for name in emails:
        assert name in text, name
    links = page.locator("a[href$='.html']")
    assert links.count() >= len(emails)
    # follow the first link of each playbook: the email itself renders inside its page
    for name in emails:
        page.goto(gallery.as_uri())
        page.locator(f"a[href^='{name}/']").first.click()
        frame = page.frame_locator("iframe").first
        body = frame.locator("body").inner_text()
        assert "unsubscribe" in body.lower(), name
        assert "{{" not in body, name
    assert page.offline_requests == []  # the gallery needs no network


def test_report_fits_1280_px_without_horizontal_overflow(
    page: Any, duck: Warehouse, settings: Settings
) -> None:
    dec, cust, _ = synthetic_decisions(n=1500)
    load_decision_tables(duck, dec, cust)
    long = "the export of our quarterly report keeps failing " * 12  # a long unbroken theme quote
    duck.insert_frame(
        "feedback",
        pd.DataFrame(
            {
                "feedback_id": [f"f{i}" for i in range(8)],
                "customer_id": "C00001",
                "survey_type": "NPS",
                "ts": pd.Timestamp("2026-11-20"),
                "score": 3,
                "comment": [long, "billing errors on invoice", "Billing errors again", "slow reports"] * 2,
            }
        ),
    )
    path = write_report(duck, settings, date(2026, 12, 1))
    page.goto(path.as_uri())
    assert "Customers kept" in page.inner_text("h2 >> nth=0")
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[1] == 1280
    assert widths[0] <= widths[1], f"page is {widths[0]} px wide in a 1280 px window"
    wide = page.evaluate(
        "() => [...document.querySelectorAll('table, img')]"
        ".filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).length"
    )
    assert wide == 0
    hidden = page.evaluate(  # a table wider than its box scrolls sideways: its right-hand columns unseen
        "() => [...document.querySelectorAll('.wide')].filter(e => e.scrollWidth > e.clientWidth + 1).length"
    )
    assert hidden == 0
    headers = page.evaluate("() => [...document.querySelectorAll('th')].map(e => e.innerText)")
    assert "Extra churned" in headers  # the theme table's last column, the one that used to be cut off
    assert not [h for h in headers if re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", h)], headers  # no code names
    assert page.offline_requests == []  # the report travels as one file: no network
