"""The desk driven in a real headless Chromium: log in, work a task, hit the authority limit, get a lead's approval,
record the outcome, flag a suggestion, and see the recognition board count the closed task.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.desk.seed import NOW, PASSWORD, TODAY, add_customer, light_hasher, seed

from proactive_ml.desk.app import create_app
from proactive_ml.responses.receiver import ReceiverThread
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse, migrate


def _matured_decisions(wh: Warehouse) -> None:
    """Ten randomized task decisions for ann, 40 days old (past the 30-day horizon): she is on the board."""
    for i in range(10):
        cid = f"old{i}"
        cancelled = NOW - timedelta(days=20) if i in (1, 6, 7, 8) else None
        add_customer(wh, cid, f"Old Customer {i}", cancelled_at=cancelled)
        wh.execute(
            """INSERT INTO decisions (send_key, as_of, customer_id, playbook, action, arm, holdout_kind, score,
                                      expected_value, reasons, decided_at, assignee)
               VALUES (:k, :d, :c, 'high_value_cs_task', 'cs_task', :arm, :kind, 0.3, 400, '', :at, 'ann')""",
            {
                "k": f"old-{i}",
                "d": TODAY - timedelta(days=40),
                "c": cid,
                "arm": "treatment" if i < 5 else "holdout",
                "kind": None if i < 5 else "playbook",
                "at": NOW - timedelta(days=40),
            },
        )


@pytest.fixture
def desk_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    light_hasher(monkeypatch)
    with Warehouse.connect(f"duckdb:///{tmp_path / 'desk.duckdb'}") as wh:
        migrate(wh)
        seed(wh)
        _matured_decisions(wh)
        settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
        with ReceiverThread(create_app(wh, settings, clock=lambda: NOW)) as server:
            yield server.url


def _login(page: Any, url: str, username: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/queue")


def _logout(page: Any, url: str) -> None:
    page.click("header button")
    page.wait_for_url(f"{url}/login")


_FITS = """document.documentElement.scrollWidth <= window.innerWidth &&
  [...document.querySelectorAll('table, svg, form')].every(
    e => e.getBoundingClientRect().right <= e.parentElement.getBoundingClientRect().right + 1)"""


def _fits(page: Any) -> bool:
    """No horizontal overflow at 1280 px: not the page, and no table, chart or form out of its box."""
    return bool(page.evaluate(_FITS))


def _closed_on_board(page: Any, url: str) -> str:
    page.goto(f"{url}/board")
    return str(page.locator("tr[data-person='ann'] td[data-tasks-closed]").inner_text())


def test_work_a_task_through_approval_flag_and_board(page: Any, desk_url: str) -> None:
    url = desk_url
    _login(page, url, "ann")
    assert _closed_on_board(page, url) == "0"
    page.goto(f"{url}/queue")
    assert page.locator("tr[data-task-id]").count() == 2
    page.click("tr[data-task-id='task-ann-1'] a")
    assert "usage down 40% over 30 days" in page.inner_text("body")
    assert "Invoice export fails" in page.inner_text("body")
    assert _fits(page)

    # 20% is above an agent's 15%: refused, and the approval form is there, value kept
    page.select_option("#outcome", "reached_stay")
    page.select_option("#offer", "discount")
    page.fill("#offer_value", "20")
    page.click("#outcome-form button[type=submit]")
    assert "above what you may offer on your own (15)" in page.inner_text("[role=alert]")
    assert page.input_value("#ap-value") == "20"
    page.fill("#ap-reason", "price is the blocker")
    page.click("#approval-form button[type=submit]")
    assert "Approval requested" in page.inner_text("[role=status]")
    _logout(page, url)

    _login(page, url, "lee")
    page.goto(f"{url}/approvals")
    page.click("tr[data-approval-id] button:has-text('Approve')")
    assert "Request approved" in page.inner_text("[role=status]")  # waits for the page after the redirect
    assert "lee" in page.inner_text("tr[data-approval-id]")  # decided by
    _logout(page, url)

    _login(page, url, "ann")
    page.goto(f"{url}/tasks/task-ann-1")
    page.select_option("#outcome", "reached_stay")
    page.select_option("#offer", "discount")
    page.fill("#offer_value", "20")
    page.select_option("#offer_accepted", "yes")
    page.fill("#notes", "Agreed to renew with 20% off")
    page.click("#outcome-form button[type=submit]")
    page.wait_for_url(f"{url}/queue")
    assert "Closed" in page.inner_text("[role=status]")
    assert page.locator("tr[data-task-id='task-ann-1']").count() == 0

    page.click("tr[data-task-id='task-ann-2'] a")
    page.fill("#flag-reason", "they renewed last week")
    page.click("#flag-form button[type=submit]")
    assert "flagged as wrong" in page.inner_text("[role=status]")

    assert _closed_on_board(page, url) == "1"
    assert "the customer says they will stay" in page.inner_text("body")  # the story, with her note
    assert "Agreed to renew with 20% off" in page.inner_text("body")
    assert _fits(page)
    page.goto(f"{url}/guidelines")
    assert _fits(page)
    assert page.offline_requests == []  # the desk needs no network
